/**
 * OpenPGP v4 certificates (transferable public keys, RFC 9580 §10.1) built by hand:
 *   public key packet (tag 6) ‖ for each user ID: user ID packet (tag 13) ‖ positive certification (0x13)
 * Each self-certification is made through the Signer (so an HSM key certifies itself) with hashed subpackets:
 * creation time, issuer key ID, issuer fingerprint, key flags 0x02 (sign data only), preferred hash SHA-512,
 * features 0x01, and primary user ID on the first user ID. No expiry, no subkeys.
 */
import { createHash } from "node:crypto";
import { OpenPgpError } from "../errors.js";
import type { PublicKey, Signer } from "../signer.js";
import { armor, dearmor } from "./armor.js";
import { fingerprintOfBody, keyIdOf } from "./fingerprint.js";
import { concat, packet, readPackets, subpacket, Tag, u16, u32 } from "./packet.js";
import { parsePublicKeyPacketBody, publicKeyPacketBody } from "./public-key.js";
import {
  assembleSignature,
  creationTimeSubpacket,
  HASH_SHA512,
  hashedSignatureData,
  issuerSubpackets,
  signatureTrailer,
  SignatureType,
  SubpacketType,
} from "./signature.js";

export interface OpenPgpCertificate {
  publicKey: PublicKey;
  created: Date;
  fingerprint: Uint8Array /* 20 */;
  keyId: Uint8Array /* 8 */;
  userIds: string[];
  bytes: Uint8Array;
}

/**
 * Largest certificate (binary or armored) any part of Signstar makes, stores or reads: NetHSM key certificates,
 * the PKCS#11 certificate data object, the key-certificates tool. A Signstar certificate is one primary key with a
 * few user IDs (about 1 KiB); 64 KiB leaves room for the 64 user IDs the configuration allows.
 */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;
export const KEY_FLAG_SIGN = 0x02;

function checkUserIds(userIds: readonly string[]): Uint8Array[] {
  if (userIds.length === 0) throw new OpenPgpError("certificate: at least one user ID is required");
  if (userIds.length > 100) throw new OpenPgpError("certificate: more than 100 user IDs");
  const seen = new Set<string>();
  return userIds.map((u) => {
    if (u.length === 0 || u.length > 1024 || /[\u0000-\u001f\u007f]/.test(u)) {
      throw new OpenPgpError(`certificate: user ID ${JSON.stringify(u.slice(0, 80))} must be 1..1024 characters without control characters`);
    }
    if (seen.has(u)) throw new OpenPgpError(`certificate: duplicate user ID ${JSON.stringify(u.slice(0, 80))}`);
    seen.add(u);
    return new TextEncoder().encode(u);
  });
}

export async function createCertificate(signer: Signer, opts: { userIds: readonly string[]; created: Date }): Promise<Uint8Array> {
  const uids = checkUserIds(opts.userIds);
  const keyBody = publicKeyPacketBody(signer.publicKey, opts.created);
  const fingerprint = fingerprintOfBody(keyBody);
  const key = { publicKey: signer.publicKey, created: opts.created, fingerprint, keyId: keyIdOf(fingerprint) };
  const parts: Uint8Array[] = [packet(Tag.PublicKey, keyBody)];
  for (const [i, uid] of uids.entries()) {
    const subpackets = [
      creationTimeSubpacket(opts.created),
      ...issuerSubpackets(key),
      subpacket(SubpacketType.KeyFlags, Uint8Array.from([KEY_FLAG_SIGN])),
      subpacket(SubpacketType.PreferredHashAlgorithms, Uint8Array.from([HASH_SHA512])),
      subpacket(SubpacketType.Features, Uint8Array.from([0x01])),
      ...(i === 0 ? [subpacket(SubpacketType.PrimaryUserId, Uint8Array.from([1]))] : []),
    ];
    const hashed = hashedSignatureData(SignatureType.PositiveCertification, signer.publicKey, subpackets);
    const digest = new Uint8Array(
      createHash("sha512")
        .update(Uint8Array.from([0x99]))
        .update(u16(keyBody.length))
        .update(keyBody)
        .update(Uint8Array.from([0xb4]))
        .update(u32(uid.length))
        .update(uid)
        .update(hashed)
        .update(signatureTrailer(hashed))
        .digest(),
    );
    parts.push(packet(Tag.UserId, uid), await assembleSignature(signer, hashed, digest));
  }
  const certificate = concat(...parts);
  if (certificate.length > MAX_CERTIFICATE_BYTES) throw new OpenPgpError(`certificate is larger than ${MAX_CERTIFICATE_BYTES} bytes (too many or too long user IDs)`);
  return certificate;
}

export function armorCertificate(bytes: Uint8Array): string {
  return armor("PUBLIC KEY BLOCK", bytes);
}

/**
 * Reads a certificate (binary, or ASCII-armored bytes): the v4 primary key and the user IDs. Subkeys, signatures
 * and user attributes are skipped (not verified: the certificate comes from the HSM or the operator).
 */
export function parseCertificate(bytes: Uint8Array): OpenPgpCertificate {
  if (bytes.length > MAX_CERTIFICATE_BYTES) throw new OpenPgpError(`certificate is larger than ${MAX_CERTIFICATE_BYTES} bytes`);
  let binary = bytes;
  const head = new TextDecoder().decode(bytes.subarray(0, 64));
  if (head.trimStart().startsWith("-----BEGIN PGP")) {
    const { type, data } = dearmor(new TextDecoder().decode(bytes));
    if (type !== "PUBLIC KEY BLOCK") throw new OpenPgpError(`certificate: armored ${type} is not a PUBLIC KEY BLOCK`);
    binary = data;
  }
  const packets = readPackets(binary);
  const first = packets[0];
  if (first === undefined) throw new OpenPgpError("certificate is empty");
  if (first.tag !== Tag.PublicKey) throw new OpenPgpError(`certificate: first packet has tag ${first.tag}, not a public key (6)`);
  const { publicKey, created } = parsePublicKeyPacketBody(first.body);
  const fingerprint = fingerprintOfBody(first.body);
  const userIds: string[] = [];
  for (const p of packets.slice(1)) {
    if (p.tag === Tag.PublicKey) throw new OpenPgpError("certificate: more than one primary key (a keyring, not one certificate)");
    if (p.tag === Tag.UserId) userIds.push(new TextDecoder().decode(p.body));
  }
  return { publicKey, created, fingerprint, keyId: keyIdOf(fingerprint), userIds, bytes: binary.slice() };
}
