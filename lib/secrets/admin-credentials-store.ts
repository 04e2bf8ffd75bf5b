/**
 * Storage of admin credentials on the host for `admin_secret_handling = "plaintext" | "systemd-creds"`
 * (as Signstar's `signstar-common/src/admin_credentials.rs`, archlinux/signstar d6ad4e9): `/var/lib/signstar/creds/` (root, 0700) holding `admin-credentials.toml` (plaintext) or
 * `admin-credentials.creds` (`systemd-creds encrypt --with-key=host --name=admin-credentials`), root 0600,
 * replaced atomically. Reading checks directory and file (type, owner, mode, size) and names the failed check.
 * With Shamir's Secret Sharing none of these files exists: see ./shares/, ./share-store.ts (root-only record and
 * staging) and lib/spool/shares.ts (holders' download spools and uploads).
 */
import { join } from "node:path";
import { hostLayout } from "../layout/host-layout.js";
import type { AdminCredentials } from "./admin-credentials.js";
import { MAX_ADMIN_CREDENTIALS_BYTES, parseAdminCredentials, serializeAdminCredentials } from "./admin-credentials.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { FileSafetyError } from "../os/errors.js";
import { SecretFileError } from "./errors.js";
import { readCheckedSecretFile } from "./non-admin.js";
import { decryptHostCredential, encryptHostCredential, MAX_CREDENTIAL_SIZE, type CredsOptions } from "./systemd-creds.js";
import { checkPrivateDir, ensureDir } from "../os/fs.js";
import { wipeFile } from "../os/wipe.js";

export type AdminCredentialsHandling = "plaintext" | "systemd-creds";

/** The credential name embedded in (and required on decryption of) `admin-credentials.creds`. */
export const ADMIN_CREDENTIAL_NAME = "admin-credentials";

export interface AdminCredentialsStoreOptions extends CredsOptions {
  /** Root prefix (default `/`), for tests and image builds. */
  readonly root?: string;
}

export function adminCredentialsDir(root = "/"): string {
  return hostLayout(root).credsDir;
}

export function adminCredentialsPath(handling: AdminCredentialsHandling, root = "/"): string {
  return join(adminCredentialsDir(root), handling === "plaintext" ? "admin-credentials.toml" : "admin-credentials.creds");
}

/** Writes the credentials (root 0600 in a root 0700 directory), replacing any previous file atomically. */
export async function writeAdminCredentials(
  creds: AdminCredentials,
  handling: AdminCredentialsHandling,
  opts: AdminCredentialsStoreOptions = {},
): Promise<string> {
  const root = opts.root ?? "/";
  const path = adminCredentialsPath(handling, root);
  const text = serializeAdminCredentials(creds);
  await ensureDir(adminCredentialsDir(root), 0o700);
  const data = handling === "plaintext" ? text : await encryptHostCredential(ADMIN_CREDENTIAL_NAME, text, path, opts);
  try {
    await writeFileAtomic(path, data, { mode: 0o600, uid: 0, gid: 0 });
  } catch (error) {
    throw new SecretFileError(`The credentials file ${path} can not be written to`, path, { cause: error });
  }
  return path;
}

/** Reads, checks and parses the credentials. Missing file or failed check → SecretFileError; bad content → ConfigError. */
export async function readAdminCredentials(handling: AdminCredentialsHandling, opts: AdminCredentialsStoreOptions = {}): Promise<AdminCredentials> {
  const root = opts.root ?? "/";
  const dir = adminCredentialsDir(root);
  const path = adminCredentialsPath(handling, root);
  const dirExists = await checkPrivateDir(dir, 0).catch((error: unknown) => {
    throw error instanceof FileSafetyError ? new SecretFileError(error.message, error.path, { cause: error }) : error;
  });
  if (!dirExists) throw new SecretFileError(`The credentials file ${path} does not exist`, path);
  const max = handling === "plaintext" ? MAX_ADMIN_CREDENTIALS_BYTES : MAX_CREDENTIAL_SIZE;
  const bytes = await readCheckedSecretFile(path, 0, max);
  const text = handling === "plaintext" ? bytes : await decryptHostCredential(ADMIN_CREDENTIAL_NAME, bytes, path, opts);
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(text);
  } catch {
    throw new SecretFileError(`The credentials file ${path} is not valid UTF-8`, path);
  } finally {
    text.fill(0);
  }
  return parseAdminCredentials(decoded, path);
}

/** Wipes both forms (e.g. once the secret exists only as shares). Missing files are fine. */
export async function removeAdminCredentials(opts: AdminCredentialsStoreOptions = {}): Promise<void> {
  const root = opts.root ?? "/";
  await wipeFile(adminCredentialsPath("plaintext", root));
  await wipeFile(adminCredentialsPath("systemd-creds", root));
}
