/**
 * The interface every HSM backend implements (NetHSM over REST, PKCS#11 through pkcs11js). Code above
 * lib/backends reaches it through ./index.ts (which opens signing keys, loading the backend lazily) and each
 * backend's own index; the layer test (tests/architecture.test.ts) keeps it so.
 */
import type { KeySetup } from "../config/model.js";
import { ExitCode, SignstarError } from "../errors.js";
import type { PublicKey, Signer } from "../signing/signer.js";

/** The backends, as the configuration names them. */
export type BackendName = "nethsm" | "pkcs11";

/** A key opened for signing with an operator's credentials. Must be closed on every path. */
export interface SigningKey extends Signer {
  /** The OpenPGP certificate (binary, v4) stored with the key on the backend, if any. */
  certificate(): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}

/**
 * A key that signs whole messages with pure Ed25519 (RFC 8032 §5.1.6), as a C2SP signed note needs
 * (https://c2sp.org/signed-note): the signing log's key on a PKCS#11 token (CKM_EDDSA) or a NetHSM (mode EdDSA).
 */
export interface Ed25519MessageKey {
  readonly publicKey: PublicKey;
  signEd25519Message(message: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** The largest message signEd25519Message takes (a checkpoint note is at most 16 KiB). */
export const MAX_ED25519_MESSAGE_BYTES = 64 * 1024;

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

/** Backend failures keep their class (exit 7); anything else a backend call threw is wrapped as a backend error. */
export function backendError(error: unknown, what: string): SignstarError {
  if (error instanceof SignstarError) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new SignstarError(`${what}: ${text}`, ExitCode.Backend, { cause: error });
}

/** A backend failure (refused login, lost connection, restarted server, token gone) that a fresh session may cure. */
export function reopenMayCure(error: unknown): boolean {
  return isAuthenticationFailure(error) || (error instanceof SignstarError && error.exitCode === ExitCode.Backend);
}
