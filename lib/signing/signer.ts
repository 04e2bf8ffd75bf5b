/**
 * The signer abstraction: what the OpenPGP layer needs from a key, whatever holds it (HSM or software).
 * Backends implement it; the signing core never knows which one it talks to.
 */

export type EcCurve = "P-256" | "P-384" | "P-521";

/** Public key material, as raw big-endian bytes (no DER, no MPI framing). */
export type PublicKey =
  | { readonly kind: "ed25519"; readonly a: Uint8Array } // 32-byte encoded point
  | { readonly kind: "ecdsa"; readonly curve: EcCurve; readonly point: Uint8Array } // uncompressed 04 ‖ X ‖ Y
  | { readonly kind: "rsa"; readonly n: Uint8Array; readonly e: Uint8Array };

export type KeyKind = PublicKey["kind"];

export interface Signer {
  readonly publicKey: PublicKey;
  /**
   * Signs the 64-byte SHA-512 digest of OpenPGP signature data and returns the signature's MPI values as
   * big-endian unsigned integers (leading zeros allowed; the packet writer strips them):
   * EdDSA → [R, S] (32 bytes each), ECDSA → [r, s], RSA PKCS#1 v1.5 → [s].
   * Input preparation for the HSM (ECDSA truncation, RSA DigestInfo) is `hsmSigningInput()` in
   * lib/signing/hsm-input.ts, shared by every backend.
   */
  signDigest(digest: Uint8Array): Promise<Uint8Array[]>;
}
