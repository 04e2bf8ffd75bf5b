/**
 * What an HSM signs for a 64-byte SHA-512 digest, and how its raw signature becomes OpenPGP MPIs
 * (Signstar `nethsm/src/signer.rs` prepare_digest_data_for_openpgp, archlinux/signstar d6ad4e9), shared by every backend:
 * - EdDSA and ECDSA P-521: the digest as is (P-521's order is longer than 512 bits);
 * - ECDSA P-256 / P-384: the first 32 / 48 bytes (RFC 9580 §5.2.3.2 truncation);
 * - RSA PKCS#1 v1.5: DER DigestInfo(SHA-512) ‖ digest (the HSM adds the 00 01 FF.. 00 padding).
 */
import { SignerError, SigningInputError } from "./errors.js";
import type { KeyKind, PublicKey } from "./signer.js";

/** DER of DigestInfo { AlgorithmIdentifier { sha512, NULL }, OCTET STRING (64 bytes) } without the digest. */
export const SHA512_DIGEST_INFO_PREFIX = Uint8Array.from([
  0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40,
]);

export function hsmSigningInput(publicKey: PublicKey, digest: Uint8Array): Uint8Array {
  if (digest.length !== 64) throw new SigningInputError(`digest must be 64 bytes (SHA-512), got ${digest.length}`);
  switch (publicKey.kind) {
    case "ed25519":
      return digest.slice();
    case "ecdsa":
      return publicKey.curve === "P-256" ? digest.slice(0, 32) : publicKey.curve === "P-384" ? digest.slice(0, 48) : digest.slice();
    case "rsa": {
      const out = new Uint8Array(SHA512_DIGEST_INFO_PREFIX.length + 64);
      out.set(SHA512_DIGEST_INFO_PREFIX);
      out.set(digest, SHA512_DIGEST_INFO_PREFIX.length);
      return out;
    }
  }
}

/** Splits a fixed-size r‖s (or R‖S) signature into its halves. */
export function splitFixed(sig: Uint8Array): [Uint8Array, Uint8Array] {
  if (sig.length === 0 || sig.length % 2 !== 0) throw new SignerError(`raw signature of ${sig.length} bytes cannot be split into two halves`);
  const half = sig.length / 2;
  return [sig.slice(0, half), sig.slice(half)];
}

function derLength(der: Uint8Array, at: number): [number, number] {
  const first = der[at];
  if (first === undefined) throw new SignerError("ECDSA DER signature is truncated");
  if (first < 0x80) return [first, at + 1];
  if (first === 0x81) {
    const len = der[at + 1];
    if (len === undefined || len < 0x80) throw new SignerError("ECDSA DER signature has a non-minimal length");
    return [len, at + 2];
  }
  throw new SignerError("ECDSA DER signature has an unsupported length encoding");
}

function derInteger(der: Uint8Array, at: number): [Uint8Array, number] {
  if (der[at] !== 0x02) throw new SignerError("ECDSA DER signature: expected INTEGER");
  const [len, start] = derLength(der, at + 1);
  const end = start + len;
  if (len === 0 || end > der.length) throw new SignerError("ECDSA DER signature: INTEGER is truncated");
  const v = der.subarray(start, end);
  if ((v[0] ?? 0) & 0x80) throw new SignerError("ECDSA DER signature: negative INTEGER");
  if (len > 1 && v[0] === 0 && ((v[1] ?? 0) & 0x80) === 0) throw new SignerError("ECDSA DER signature: non-minimal INTEGER");
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  return [v.slice(i), end];
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }` → [r, s] as unsigned big-endian bytes without leading zeros. */
export function ecdsaDerToRs(der: Uint8Array): [Uint8Array, Uint8Array] {
  if (der[0] !== 0x30) throw new SignerError("ECDSA DER signature: expected SEQUENCE");
  const [len, start] = derLength(der, 1);
  if (start + len !== der.length) throw new SignerError("ECDSA DER signature: length does not match");
  const [r, afterR] = derInteger(der, start);
  const [s, afterS] = derInteger(der, afterR);
  if (afterS !== der.length) throw new SignerError("ECDSA DER signature: trailing data");
  return [r, s];
}

/** How a backend encodes an ECDSA signature: DER `SEQUENCE { r, s }` (NetHSM) or r ‖ s of fixed size (PKCS#11). */
export type EcdsaEncoding = "der" | "fixed";

/**
 * Raw HSM signature → MPI values, as Signstar does for NetHSM (`nethsm/src/signer.rs`): EdDSA exactly 64 bytes
 * split 32/32, ECDSA r and s (from DER, or split in halves for a backend that returns r ‖ s), RSA the whole
 * signature. Every backend goes through this function, so the Signstar vectors test production code. Given the
 * public key (not only its kind), an RSA signature longer than the modulus, or empty, is refused too.
 */
export function rawSignatureToMpis(key: KeyKind | PublicKey, sig: Uint8Array, ecdsa: EcdsaEncoding = "der"): Uint8Array[] {
  const kind = typeof key === "string" ? key : key.kind;
  if (kind === "ed25519") {
    if (sig.length !== 64) throw new SignerError(`EdDSA signature must be 64 bytes, got ${sig.length}`);
    return splitFixed(sig);
  }
  if (kind === "ecdsa") return ecdsa === "der" ? ecdsaDerToRs(sig) : splitFixed(sig);
  if (typeof key !== "string" && key.kind === "rsa" && (sig.length === 0 || sig.length > key.n.length)) {
    throw new SignerError(`RSA signature of ${sig.length} bytes does not fit the ${key.n.length}-byte modulus`);
  }
  return [sig.slice()];
}
