/**
 * Non-administrative backend secrets (reference §4.2): one file per (Unix user, backend user) at
 * `<root>/var/lib/signstar/home/<user>/.local/state/signstar/secrets/<backend-user>.txt` (plaintext) or
 * `.creds` (systemd-creds), owned by the Unix user, mode exactly 0600, in a root-owned 0711 directory below a
 * root-owned chain (lib/secrets/state-dirs.ts).
 *
 * createNonAdminSecret runs as root (configure / tests); readNonAdminSecret runs as the user itself and checks
 * type, owner, mode and size on the opened descriptor before reading a byte.
 */
import { constants } from "node:fs";
import { open, lstat } from "node:fs/promises";
import { requireUser } from "../host/accounts.js";
import { writeFileAtomic } from "./atomic-file.js";
import { SecretFileError } from "./errors.js";
import { secretFilePath, type SecretLocation } from "./non-admin-paths.js";
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

export { secretFilePath, type SecretLocation } from "./non-admin-paths.js";

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

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
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
  /** The calling user (lib/tools/caller.ts); its uid is the required owner. */
  readonly caller?: { readonly uid: number };
  /**
   * Read `<file>.next`, the secret signstar-configure is rotating to (written before the backend learns it,
   * renamed over `<file>` after): a caller whose secret the backend refused tries it once.
   */
  readonly next?: boolean;
}

/** Opens and checks a secret file (type, owner, mode, size), then returns its bytes. */
export async function readCheckedSecretFile(
  path: string,
  expectedUid: number,
  maxSize: number,
  opts: { readonly singleLink?: boolean } = {},
): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") throw new SecretFileError(`secret file not found: ${path}`, path);
    if (code === "ELOOP") throw new SecretFileError(`secret file ${path} is a symbolic link, which is refused`, path);
    if (code === "EACCES") throw new SecretFileError(`secret file ${path} is not readable by uid ${expectedUid} (permission denied)`, path);
    if (code === "ENOTDIR") throw new SecretFileError(`secret file not found: ${path} (a parent is not a directory)`, path);
    throw new SecretFileError(`cannot open secret file ${path}: ${code ?? String(error)}`, path, { cause: error });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new SecretFileError(`secret file ${path} is not a regular file (${describeType(st)})`, path);
    if (st.uid !== expectedUid) {
      throw new SecretFileError(`secret file ${path} is owned by uid ${st.uid}, but must be owned by uid ${expectedUid}`, path);
    }
    if (opts.singleLink && st.nlink !== 1) throw new SecretFileError(`secret file ${path} has ${st.nlink} links, but exactly one is required`, path);
    const mode = st.mode & 0o7777;
    if (mode !== SECRET_FILE_MODE) {
      throw new SecretFileError(`secret file ${path} has mode ${mode.toString(8).padStart(4, "0")}, but 0600 is required`, path);
    }
    if (st.size === 0) throw new SecretFileError(`secret file ${path} is empty`, path);
    if (st.size > maxSize) throw new SecretFileError(`secret file ${path} has ${st.size} bytes, more than the ${maxSize} allowed`, path);
    const buffer = Buffer.alloc(maxSize + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxSize) throw new SecretFileError(`secret file ${path} grew beyond ${maxSize} bytes while being read`, path);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function describeType(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** The user itself: reads its backend secret, after the owner/mode/type/size checks. */
export async function readNonAdminSecret(opts: ReadSecretOptions): Promise<string> {
  const path = secretFilePath(opts) + (opts.next ? ".next" : "");
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
