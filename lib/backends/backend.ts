/**
 * The interface every HSM backend implements (NetHSM over REST, PKCS#11 through pkcs11js).
 * Nothing above lib/backends imports a concrete backend; it goes through openSigningKey() in ./index.ts,
 * which loads the backend module lazily so a signing process only loads the code its key needs.
 */
import type { KeySetup } from "../config/model.js";
import type { PublicKey, Signer } from "../signing/signer.js";

/** A key opened for signing with an operator's credentials. Must be closed on every path. */
export interface SigningKey extends Signer {
  /** The OpenPGP certificate (binary, v4) stored with the key on the backend, if any. */
  certificate(): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}

/** What an administrator sees of one key. */
export interface KeyInfo {
  /** Backend-specific key reference as a display string (NetHSM key id; PKCS#11 `label:x` / `id:hex`). */
  readonly ref: string;
  readonly publicKey: PublicKey;
  /** Lowercase hex SHA3-384 of the public key in its canonical encoding (see lib/signing/key-digest.ts). */
  readonly sha3_384: string;
}

/**
 * Administrative operations signstar-configure needs, opened with admin credentials
 * (NetHSM: an R-Administrator; PKCS#11: the token's SO PIN, and the user PIN for object management).
 */
export interface KeyAdministration {
  listKeys(): Promise<KeyInfo[]>;
  /** Generates a key pair on the HSM (private part never extractable) and returns its public key. */
  generateKey(ref: string, setup: KeySetup): Promise<PublicKey>;
  deleteKey(ref: string): Promise<void>;
  getCertificate(ref: string): Promise<Uint8Array | undefined>;
  putCertificate(ref: string, certificate: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * Backend errors that mean "the secret was refused" (wrong PIN or passphrase) carry this flag, so callers can
 * react (e.g. try a rotated secret) without knowing which backend answered.
 */
export interface AuthenticationFailure {
  readonly authenticationFailed: true;
}

export function isAuthenticationFailure(error: unknown): error is AuthenticationFailure {
  return typeof error === "object" && error !== null && (error as { authenticationFailed?: unknown }).authenticationFailed === true;
}
