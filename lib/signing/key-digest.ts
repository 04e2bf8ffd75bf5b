/**
 * A stable digest of a public key, for key lists and audit logs: lowercase hex SHA3-384 over the key's DER
 * SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) as OpenSSL encodes it:
 * - Ed25519: RFC 8410 (`30 2a 30 05 06 03 2b 65 70 03 21 00 ‖ A`);
 * - ECDSA: id-ecPublicKey with the named-curve OID and the uncompressed point (RFC 5480);
 * - RSA: rsaEncryption with NULL parameters and RSAPublicKey { n, e } (RFC 8017).
 * The SPKI form is what `openssl pkey -pubin -outform DER` prints, so the digest can be recomputed with
 * `openssl pkey -pubin -in key.pem -outform DER | openssl dgst -sha3-384`.
 */
import { sha3_384 } from "@noble/hashes/sha3.js";
import { publicKeyToKeyObject } from "./public-key.js";
import type { PublicKey } from "./signer.js";

export function publicKeySpkiDer(publicKey: PublicKey): Uint8Array {
  return new Uint8Array(publicKeyToKeyObject(publicKey).export({ type: "spki", format: "der" }));
}

export function publicKeySha3_384(publicKey: PublicKey): string {
  return Buffer.from(sha3_384(publicKeySpkiDer(publicKey))).toString("hex");
}
