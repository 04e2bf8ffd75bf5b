/**
 * v4 signature packets (RFC 9580 §5.2.3), built by hand:
 *   body = 04 ‖ type ‖ pk-algo ‖ 0a (SHA-512) ‖ u16 hashed-len ‖ hashed subpackets
 *          ‖ u16 0 (no unhashed subpackets) ‖ left 16 bits of the digest ‖ MPIs
 *   digest = SHA-512(data ‖ hashed part ‖ 04 ff ‖ u32 len(hashed part))
 * `signHasherState` is Signstar's `sign_hasher_state` (`signstar-crypto/src/signer/openpgp.rs`, archlinux/signstar d6ad4e9): the data is the client's SHA-512 state,
 * and the hashed subpackets are chosen by the server: creation time, issuer key ID, issuer fingerprint,
 * notation `data-digest@archlinux.org` = SHA-512 of the file, then optional server notations.
 */
import { OpenPgpError, SignerError, SigningInputError } from "../errors.js";
import { curveBytes, describePublicKey, publicKeysEqual } from "../public-key.js";
import type { Sha512State } from "../sha512-state.js";
import type { PublicKey, Signer } from "../signer.js";
import { toHex } from "./fingerprint.js";
import { concat, mpi, packet, stripLeadingZeros, subpacket, Tag, u16, u32 } from "./packet.js";
import { algorithmOf, creationSeconds } from "./public-key.js";

export const SignatureType = { Binary: 0x00, PositiveCertification: 0x13 } as const;
export const HASH_SHA512 = 10;
export const SubpacketType = {
  CreationTime: 2,
  IssuerKeyId: 16,
  NotationData: 20,
  PreferredHashAlgorithms: 21,
  PrimaryUserId: 25,
  KeyFlags: 27,
  Features: 30,
  IssuerFingerprint: 33,
} as const;

export const DEFAULT_DIGEST_NOTATION = "data-digest@archlinux.org";

/** What signature.ts needs of a certificate (structurally satisfied by OpenPgpCertificate). */
export interface SigningKeyInfo {
  readonly publicKey: PublicKey;
  readonly created: Date;
  readonly fingerprint: Uint8Array;
  readonly keyId: Uint8Array;
}

export interface Notation {
  readonly name: string;
  /** A string is stored as UTF-8 and flagged human-readable; bytes are stored as is. */
  readonly value: Uint8Array | string;
}

export function creationTimeSubpacket(created: Date): Uint8Array {
  return subpacket(SubpacketType.CreationTime, u32(creationSeconds(created)));
}

/** The issuer subpackets: key ID (16) and v4 fingerprint (33). */
export function issuerSubpackets(key: SigningKeyInfo): Uint8Array[] {
  return [
    subpacket(SubpacketType.IssuerKeyId, key.keyId),
    subpacket(SubpacketType.IssuerFingerprint, concat(Uint8Array.from([4]), key.fingerprint)),
  ];
}

const NOTATION_NAME = /^[\x21-\x3f\x41-\x7e]+@[A-Za-z0-9.-]+$/;

/** Notation Data subpacket (20): flags, u16 name length, u16 value length, name, value. */
export function notationSubpacket(n: Notation): Uint8Array {
  if (!NOTATION_NAME.test(n.name) || n.name.length > 255) {
    throw new SigningInputError(`notation name ${JSON.stringify(n.name.slice(0, 80))} must look like name@domain (printable ASCII, at most 255)`);
  }
  const humanReadable = typeof n.value === "string";
  const value = typeof n.value === "string" ? new TextEncoder().encode(n.value) : n.value;
  if (value.length > 4096) throw new SigningInputError(`notation ${n.name}: value is larger than 4096 bytes`);
  const name = new TextEncoder().encode(n.name);
  const flags = Uint8Array.from([humanReadable ? 0x80 : 0, 0, 0, 0]);
  return subpacket(SubpacketType.NotationData, concat(flags, u16(name.length), u16(value.length), name, value));
}

/** The hashed part of a v4 signature: 04 type algo 0a u16(len) subpackets. */
export function hashedSignatureData(type: number, publicKey: PublicKey, subpackets: readonly Uint8Array[]): Uint8Array {
  const area = concat(...subpackets);
  if (area.length > 0xffff) throw new SigningInputError(`hashed subpackets of ${area.length} bytes exceed 65535`);
  return concat(Uint8Array.from([4, type, algorithmOf(publicKey), HASH_SHA512]), u16(area.length), area);
}

/** The v4 trailer appended after the hashed part: 04 ff u32(len(hashed part)). */
export function signatureTrailer(hashed: Uint8Array): Uint8Array {
  return concat(Uint8Array.from([4, 0xff]), u32(hashed.length));
}

/** Checks the MPIs a signer returned: count and size for its key type. */
export function checkSignatureMpis(pk: PublicKey, mpis: readonly Uint8Array[]): Uint8Array[] {
  const values = mpis.map((m) => stripLeadingZeros(m));
  const [max, count] =
    pk.kind === "ed25519" ? [32, 2] : pk.kind === "ecdsa" ? [curveBytes(pk.curve), 2] : [stripLeadingZeros(pk.n).length, 1];
  if (values.length !== count) throw new SignerError(`${describePublicKey(pk)} signer returned ${values.length} values, expected ${count}`);
  for (const v of values) {
    if (v.length === 0 || v.length > max) throw new SignerError(`${describePublicKey(pk)} signer returned a value of ${v.length} bytes (1..${max} expected)`);
  }
  return values;
}

/** Signs a finished digest and assembles the signature packet (tag 2, new format). */
export async function assembleSignature(signer: Signer, hashed: Uint8Array, digest: Uint8Array): Promise<Uint8Array> {
  const mpis = checkSignatureMpis(signer.publicKey, await signer.signDigest(digest));
  return packet(Tag.Signature, concat(hashed, u16(0), digest.subarray(0, 2), ...mpis.map((m) => mpi(m))));
}

/**
 * Detached binary (type 0x00) signature over the data hashed into `state`, made by `signer` for `cert`.
 * Returns the binary signature packet; armor it with armor("SIGNATURE", …).
 */
export async function signHasherState(
  state: Sha512State,
  signer: Signer,
  cert: SigningKeyInfo,
  opts: { created: Date; notations?: readonly Notation[]; digestNotationName?: string },
): Promise<Uint8Array> {
  if (!publicKeysEqual(signer.publicKey, cert.publicKey)) {
    throw new SignerError(`signer's ${describePublicKey(signer.publicKey)} key is not the primary key of certificate ${toHex(cert.fingerprint)}`);
  }
  if (opts.created.getTime() < cert.created.getTime()) {
    throw new OpenPgpError(`signature creation time ${opts.created.toISOString()} is before the key's creation time ${cert.created.toISOString()}`);
  }
  const fileDigest = state.digest();
  const subpackets = [
    creationTimeSubpacket(opts.created),
    ...issuerSubpackets(cert),
    notationSubpacket({ name: opts.digestNotationName ?? DEFAULT_DIGEST_NOTATION, value: fileDigest }),
    ...(opts.notations ?? []).map((n) => notationSubpacket(n)),
  ];
  const hashed = hashedSignatureData(SignatureType.Binary, cert.publicKey, subpackets);
  const digest = state.clone().update(hashed).update(signatureTrailer(hashed)).digest();
  return assembleSignature(signer, hashed, digest);
}
