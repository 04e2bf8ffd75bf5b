/**
 * Checks, without the signer's certificate, that a returned OpenPGP signature belongs to OUR request:
 * exactly one v4 signature packet (tag 2), over a binary document (type 0x00), hash SHA-512 (10), whose
 * "left 16 bits of the hash" equal the first two bytes of the digest we get by feeding the signature's hashed
 * part and the v4 trailer into a copy of our own file's SHA-512 state. A signature for another file (or a
 * replayed one) fails this with probability 1 - 2^-16; full verification needs the certificate (gpg/sq/sqop).
 */
import type { Sha512State } from "../signing/sha512-state.js";
import { InvalidResponseError } from "./errors.js";

const SIGNATURE_TAG = 2;
const SIG_TYPE_BINARY = 0x00;
const HASH_SHA512 = 10;

export interface SignatureInfo {
  readonly sigType: number;
  readonly publicKeyAlgorithm: number;
  readonly hashAlgorithm: number;
}

/** Splits the packet header off `data`; requires exactly one packet spanning all of it. */
function singlePacket(data: Uint8Array): { tag: number; body: Uint8Array } {
  const b0 = data[0];
  if (b0 === undefined || (b0 & 0x80) === 0) throw bad("not an OpenPGP packet");
  let tag: number;
  let len: number;
  let off: number;
  if ((b0 & 0x40) !== 0) {
    tag = b0 & 0x3f;
    const l0 = data[1];
    if (l0 === undefined) throw bad("truncated packet header");
    if (l0 < 192) {
      len = l0;
      off = 2;
    } else if (l0 < 224) {
      len = ((l0 - 192) << 8) + (data[2] ?? 0) + 192;
      off = 3;
    } else if (l0 === 255) {
      len = new DataView(data.buffer, data.byteOffset).getUint32(2);
      off = 6;
    } else {
      throw bad("partial-length packets are not accepted");
    }
  } else {
    tag = (b0 >> 2) & 0x0f;
    const lt = b0 & 0x03;
    if (lt === 3) throw bad("indeterminate-length packets are not accepted");
    off = 1 + (1 << lt);
    if (data.length < off) throw bad("truncated packet header");
    len = 0;
    for (let i = 1; i < off; i++) len = len * 256 + (data[i] ?? 0);
  }
  if (off > data.length) throw bad("truncated packet header");
  if (off + len !== data.length) throw bad("expected exactly one packet");
  return { tag, body: data.subarray(off) };
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
  const trailer = new Uint8Array(6);
  trailer[0] = 4;
  trailer[1] = 0xff;
  new DataView(trailer.buffer).setUint32(2, hashedEnd);
  const digest = state.clone().update(body.subarray(0, hashedEnd)).update(trailer).digest();
  if (digest[0] !== body[left16At] || digest[1] !== body[left16At + 1]) {
    throw bad("does not cover the requested file (hash prefix mismatch)");
  }
  return info;
}
