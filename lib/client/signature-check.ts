/**
 * Checks, without the signer's certificate, that a returned OpenPGP signature belongs to OUR request:
 * exactly one v4 signature packet (tag 2), over a binary document (type 0x00), hash SHA-512 (10), whose
 * "left 16 bits of the hash" equal the first two bytes of the digest we get by feeding the signature's hashed
 * part and the v4 trailer into a copy of our own file's SHA-512 state. A signature for another file (or a
 * replayed one) fails this with probability 1 - 2^-16; full verification needs the certificate (gpg/sq/sqop).
 */
import { readPackets, Tag, type RawPacket } from "../signing/openpgp/packet.js";
import { HASH_SHA512, SignatureType, signatureTrailer } from "../signing/openpgp/signature.js";
import type { Sha512State } from "../signing/sha512-state.js";
import { InvalidResponseError } from "./errors.js";

const SIGNATURE_TAG = Tag.Signature;
const SIG_TYPE_BINARY = SignatureType.Binary;

export interface SignatureInfo {
  readonly sigType: number;
  readonly publicKeyAlgorithm: number;
  readonly hashAlgorithm: number;
}

/** The one packet `data` must consist of (framing read by the signing core's packet reader). */
function singlePacket(data: Uint8Array): RawPacket {
  let packets: RawPacket[];
  try {
    packets = readPackets(data, 1);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (/more than 1 packets/.test(reason)) throw bad("is not exactly one packet (expected exactly one packet)");
    throw bad(`is not a well-formed OpenPGP packet (${reason})`);
  }
  const packet = packets[0];
  if (packet === undefined) throw bad("is empty (expected exactly one packet)");
  return packet;
}

function bad(reason: string): InvalidResponseError {
  return new InvalidResponseError(`response: signature ${reason}`);
}

/**
 * Throws `InvalidResponseError` unless `binary` is one v4 SHA-512 binary-document signature packet whose
 * hash prefix matches `state` (the request's SHA-512 state, left unchanged).
 */
export function checkSignatureForState(binary: Uint8Array, state: Sha512State): SignatureInfo {
  const { tag, body } = singlePacket(binary);
  if (tag !== SIGNATURE_TAG) throw bad(`is an OpenPGP packet of tag ${tag}, not a signature (2)`);
  if (body.length < 6) throw bad("packet is truncated");
  if (body[0] !== 4) throw bad(`packet has version ${body[0]}, expected 4`);
  const info: SignatureInfo = { sigType: body[1] ?? -1, publicKeyAlgorithm: body[2] ?? -1, hashAlgorithm: body[3] ?? -1 };
  if (info.sigType !== SIG_TYPE_BINARY) throw bad(`has type 0x${info.sigType.toString(16)}, expected 0x00 (binary document)`);
  if (info.hashAlgorithm !== HASH_SHA512) throw bad(`uses hash algorithm ${info.hashAlgorithm}, expected 10 (SHA-512)`);
  const hashedLen = ((body[4] ?? 0) << 8) | (body[5] ?? 0);
  const hashedEnd = 6 + hashedLen;
  if (body.length < hashedEnd + 2) throw bad("packet is truncated");
  const unhashedLen = ((body[hashedEnd] ?? 0) << 8) | (body[hashedEnd + 1] ?? 0);
  const left16At = hashedEnd + 2 + unhashedLen;
  if (body.length < left16At + 2 + 2) throw bad("packet is truncated");
  const hashed = body.subarray(0, hashedEnd);
  const digest = state.clone().update(hashed).update(signatureTrailer(hashed)).digest();
  if (digest[0] !== body[left16At] || digest[1] !== body[left16At + 1]) {
    throw bad("does not cover the requested file (hash prefix mismatch)");
  }
  return info;
}
