/**
 * systemd-creds wrappers (see docs/secrets.md).
 *
 * - Host-key credentials (`--with-key=host`): encrypted with /var/lib/systemd/credential.secret (root 0400).
 *   Only root can encrypt or decrypt them; on systemd 252 (Debian 12) that is the only mode without a TPM.
 * - User-scoped credentials (`--user`, systemd ≥ 256): root encrypts for a uid, the user decrypts through the
 *   io.systemd.Credentials varlink service. This is what a non-root ForceCommand needs; with systemd < 256
 *   it does not exist, and the functions below fail with a message saying so instead of pretending.
 *
 * Plaintext goes to systemd-creds on stdin and comes back on stdout: never in argv or the environment.
 * The credential name embedded in the ciphertext binds it to (system user, backend user), so a file copied
 * to another user's or backend user's name fails to decrypt.
 */
import { SecretFileError } from "./errors.js";
import { DEFAULT_ENV, run } from "../os/run.js";

/** First systemd release with `systemd-creds --user` (per-user credentials, unprivileged decryption). */
export const USER_CREDENTIALS_MIN_SYSTEMD = 256;
/** An encrypted credential of a ≤ 4 KiB secret is well below this. */
export const MAX_CREDENTIAL_SIZE = 64 * 1024;
const TIMEOUT_MS = 15_000;

export interface CredsOptions {
  /**
   * Environment for systemd-creds (default: PATH and LANG only). Tests pass SYSTEMD_CREDENTIAL_SECRET=<file>
   * to use a throw-away host key instead of the machine's.
   */
  readonly env?: NodeJS.ProcessEnv;
}

/** The credential name embedded in (and checked on decryption of) a user's backend secret. */
export function credentialName(systemUser: string, backendUser: string): string {
  return `signstar.${systemUser}.${backendUser}`;
}

let cachedVersion: Promise<number> | undefined;

/** The systemd version systemd-creds reports (`systemd 252 (252.39-1~deb12u2)` → 252). */
export function systemdCredsVersion(opts: CredsOptions = {}): Promise<number> {
  cachedVersion ??= (async () => {
    let result;
    try {
      result = await run(["systemd-creds", "--version"], { timeoutMs: TIMEOUT_MS, env: opts.env ?? DEFAULT_ENV });
    } catch (error) {
      throw new SecretFileError("systemd-creds is not installed (needed for non_admin_secret_handling = \"systemd-creds\")", "systemd-creds", { cause: error });
    }
    const match = /^systemd (\d+)/.exec(result.stdout.toString("utf8"));
    if (result.code !== 0 || !match?.[1]) throw new SecretFileError("cannot determine the systemd version from systemd-creds --version", "systemd-creds");
    return Number(match[1]);
  })();
  return cachedVersion;
}

/** Throws a clear error when this systemd cannot give a non-root user its own credentials. */
export async function requireUserCredentials(path: string, opts: CredsOptions = {}): Promise<void> {
  const version = await systemdCredsVersion(opts);
  if (version < USER_CREDENTIALS_MIN_SYSTEMD) {
    throw new SecretFileError(
      `${path}: systemd-creds secrets need systemd >= ${USER_CREDENTIALS_MIN_SYSTEMD} (systemd-creds --user); this host has systemd ${version}, ` +
        `where only root can decrypt host-key credentials, so a Signstar user could never read its secret; ` +
        `use non_admin_secret_handling = "plaintext" on this host`,
      path,
    );
  }
}

function failure(action: string, path: string, code: number | null, stderr: string): SecretFileError {
  const detail = stderr.trim().split("\n").pop()?.slice(0, 200) ?? "";
  return new SecretFileError(`systemd-creds ${action} of ${path} failed (status ${String(code)})${detail ? `: ${detail}` : ""}`, path);
}

async function creds(args: string[], input: Uint8Array | string, action: string, path: string, opts: CredsOptions): Promise<Buffer> {
  const result = await run(["systemd-creds", ...args], {
    input,
    timeoutMs: TIMEOUT_MS,
    maxOutput: MAX_CREDENTIAL_SIZE,
    env: opts.env ?? DEFAULT_ENV,
  });
  if (result.code !== 0 || result.killed) throw failure(action, path, result.code, result.stderr);
  return result.stdout;
}

function requireRoot(path: string, action: string): void {
  if (process.geteuid?.() !== 0) {
    throw new SecretFileError(`${path}: systemd-creds ${action} with the host key needs root (the host key is readable by root only)`, path);
  }
}

/** Root only: encrypt with the host key (usable by root-only secrets such as admin credentials on systemd 252). */
export async function encryptHostCredential(name: string, plaintext: string, path: string, opts: CredsOptions = {}): Promise<Buffer> {
  requireRoot(path, "encryption");
  return creds(["encrypt", "--with-key=host", `--name=${name}`, "-", "-"], plaintext, "encryption", path, opts);
}

/** Root only: decrypt a host-key credential; the embedded name must equal `name`. */
export async function decryptHostCredential(name: string, ciphertext: Uint8Array, path: string, opts: CredsOptions = {}): Promise<Buffer> {
  requireRoot(path, "decryption");
  return creds(["decrypt", `--name=${name}`, "-", "-"], ciphertext, "decryption", path, opts);
}

/** Root, systemd ≥ 256: encrypt a credential that only `userName` can decrypt. */
export async function encryptUserCredential(userName: string, name: string, plaintext: string, path: string, opts: CredsOptions = {}): Promise<Buffer> {
  await requireUserCredentials(path, opts);
  return creds(["--user", `--uid=${userName}`, "encrypt", `--name=${name}`, "-", "-"], plaintext, "encryption", path, opts);
}

/** The user itself, systemd ≥ 256: decrypt its own user-scoped credential. */
export async function decryptUserCredential(name: string, ciphertext: Uint8Array, path: string, opts: CredsOptions = {}): Promise<Buffer> {
  await requireUserCredentials(path, opts);
  return creds(["--user", "decrypt", `--name=${name}`, "-", "-"], ciphertext, "decryption", path, opts);
}
