/**
 * Non-administrative backend secrets (Signstar's `signstar-crypto/src/secret_file/non_admin.rs`, archlinux/signstar d6ad4e9): one file per
 * (Unix user, backend user) at
 * `<root>/var/lib/signstar/home/<user>/.local/state/signstar/secrets/<backend-user>.txt` (plaintext) or
 * `.creds` (systemd-creds), owned by the Unix user, mode exactly 0600, in a root-owned 0711 directory below a
 * root-owned chain (lib/secrets/state-dirs.ts).
 *
 * createNonAdminSecret runs as root (configure / tests); readNonAdminSecret runs as the user itself and checks
 * type, owner, mode and size on the opened descriptor before reading a byte.
 */
import { lstat } from "node:fs/promises";
import { errnoCode, octal } from "../os/errno.js";
import { describeFileProblem, FileReadError, readCheckedFile, type FileProblem } from "../os/read-file.js";
import { requireUser } from "../os/accounts.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { SecretFileError } from "./errors.js";
import { secretFilePath, type SecretLocation, type SecretVersion } from "./non-admin-paths.js";
import { generatePassphrase } from "./passphrase.js";
import { ensureStateDirs, type Owner } from "./state-dirs.js";
import {
  credentialName,
  decryptUserCredential,
  encryptUserCredential,
  requireUserCredentials,
  MAX_CREDENTIAL_SIZE,
  type CredsOptions,
} from "./systemd-creds.js";

export { secretFilePath, type SecretLocation, type SecretVersion } from "./non-admin-paths.js";

/** Largest plaintext secret file accepted (passphrases and PINs are far shorter). */
export const MAX_PLAINTEXT_SECRET_SIZE = 4096;
export const SECRET_FILE_MODE = 0o600;

export interface CreateSecretOptions extends SecretLocation, CredsOptions {
  /** The secret to store; generated (30 × [A-Za-z0-9]) when omitted. */
  readonly secret?: string;
  /** Replace an existing file (default: an existing file is an error). */
  readonly overwrite?: boolean;
  /** Owner; looked up with getent from systemUser when omitted. */
  readonly owner?: Owner;
}

export interface CreatedSecret {
  readonly path: string;
  /** The stored secret, for the caller to set on the backend. Never log it. */
  readonly secret: string;
}

/** Root: creates (atomically, 0600, owned by the user) the secret file of one backend user of one Unix user. */
export async function createNonAdminSecret(opts: CreateSecretOptions): Promise<CreatedSecret> {
  const path = secretFilePath(opts);
  if (opts.handling === "systemd-creds") await requireUserCredentials(path, opts);
  const secret = opts.secret ?? generatePassphrase();
  if (secret.length === 0 || Buffer.byteLength(secret, "utf8") > MAX_PLAINTEXT_SECRET_SIZE) {
    throw new SecretFileError(`secret for ${path} must be 1 to ${MAX_PLAINTEXT_SECRET_SIZE} bytes long`, path);
  }
  const owner = opts.owner ?? (await requireUser(opts.systemUser));
  // Every directory down to secrets/ is root-owned (secrets/ 0711): the user can replace nothing on the path,
  // and the file is made by root on a temporary name (O_EXCL|O_NOFOLLOW), fchown'ed and renamed into place.
  await ensureStateDirs(opts.root, opts.systemUser, "secrets", owner);
  if (!opts.overwrite) {
    try {
      await lstat(path);
      throw new SecretFileError(`secret file already exists: ${path}`, path);
    } catch (error) {
      if (error instanceof SecretFileError) throw error;
      if (errnoCode(error) !== "ENOENT") throw error;
    }
  }
  const content =
    opts.handling === "plaintext"
      ? secret
      : await encryptUserCredential(opts.systemUser, credentialName(opts.systemUser, opts.backendUser), secret, path, opts);
  await writeFileAtomic(path, content, { mode: SECRET_FILE_MODE, uid: owner.uid, gid: owner.gid });
  return { path, secret };
}

export interface ReadSecretOptions extends SecretLocation, CredsOptions {
  /** The uid that must own the file; defaults to caller.uid, else the effective uid of this process. */
  readonly uid?: number;
  /** The calling user (lib/caller/caller.ts); its uid is the required owner. */
  readonly caller?: { readonly uid: number };
  /** Which copy to read (default `current`); see SecretVersion. */
  readonly version?: SecretVersion;
}

/**
 * Opens and checks a secret file (regular, not a symbolic link, owner, mode exactly 0600, not empty, size) with
 * the one checked reader (lib/os/read-file.ts), then returns its bytes. Problems read as secret-file errors.
 */
export async function readCheckedSecretFile(
  path: string,
  expectedUid: number,
  maxSize: number,
  opts: { readonly singleLink?: boolean } = {},
): Promise<Buffer> {
  try {
    const { data } = await readCheckedFile(path, {
      what: "secret file",
      maxBytes: maxSize,
      owner: expectedUid,
      mode: SECRET_FILE_MODE,
      nonEmpty: true,
      ...(opts.singleLink ? { singleLink: true } : {}),
    });
    return data;
  } catch (error) {
    if (error instanceof FileReadError) throw new SecretFileError(secretFileProblem(path, expectedUid, error.problem), path, { cause: error });
    throw error;
  }
}

function secretFileProblem(path: string, uid: number, p: FileProblem): string {
  switch (p.kind) {
    case "open":
      if (p.code === "ENOENT") return `secret file not found: ${path}`;
      if (p.code === "ELOOP") return `secret file ${path} is a symbolic link, which is refused`;
      if (p.code === "EACCES") return `secret file ${path} is not readable by uid ${uid} (permission denied)`;
      if (p.code === "ENOTDIR") return `secret file not found: ${path} (a parent is not a directory)`;
      return `cannot open secret file ${path}: ${p.reason}`;
    case "mode":
      return `secret file ${path} has mode ${octal(p.mode)}, but 0600 is required`;
    case "size":
      return p.whileReading ? `secret file ${path} grew beyond ${p.max} bytes while being read` : `secret file ${path} has ${p.size} bytes, more than the ${p.max} allowed`;
    default:
      return describeFileProblem("secret file", path, p);
  }
}

/** The user itself: reads its backend secret, after the owner/mode/type/size checks. */
export async function readNonAdminSecret(opts: ReadSecretOptions): Promise<string> {
  const path = secretFilePath(opts, opts.version);
  const uid = opts.uid ?? opts.caller?.uid ?? process.geteuid?.() ?? -1;
  if (opts.handling === "systemd-creds") {
    await requireUserCredentials(path, opts);
    const ciphertext = await readCheckedSecretFile(path, uid, MAX_CREDENTIAL_SIZE);
    const plain = await decryptUserCredential(credentialName(opts.systemUser, opts.backendUser), ciphertext, path, opts);
    return decodeSecret(plain, path);
  }
  return decodeSecret(await readCheckedSecretFile(path, uid, MAX_PLAINTEXT_SECRET_SIZE), path);
}

function decodeSecret(bytes: Buffer, path: string): string {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    if (text.length === 0) throw new SecretFileError(`secret file ${path} holds an empty secret`, path);
    return text;
  } catch (error) {
    if (error instanceof SecretFileError) throw error;
    throw new SecretFileError(`secret file ${path} is not valid UTF-8`, path);
  } finally {
    bytes.fill(0);
  }
}
