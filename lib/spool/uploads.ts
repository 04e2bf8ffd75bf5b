/**
 * Upload spool of signstar-upload-backup and signstar-upload-update (the uploader's side: role check, bounded
 * and validated receipt, audit entry, JSON receipt), and the reading side for signstar-configure (root).
 *
 * Ownership model: an upload lives in its uploader's own state directory,
 * `/var/lib/signstar/home/<user>/.local/state/signstar/uploads/<kind>.bin` (the chain down to `signstar/` is
 * root:root 0755, `uploads/` is the upload user's 0700, files 0600; all made by signstar-configure-build's
 * tmpfiles.d entry). The tool runs as that user; nobody else can read or replace the upload, and the user cannot
 * swap the directory root reads from (its parent is root-owned).
 * The upload streams into `.<kind>.<random>.part` (O_EXCL, 0600) in the same directory, is bounded in size and
 * time, fsync'ed, validated, and only then renamed over `<kind>.bin`: the visible file is always a complete,
 * validated upload (a newer upload replaces an older one atomically); a rejected upload leaves nothing behind.
 *
 * configure reads it with takeUploaded(): the file is opened without following a final symlink and checked on
 * the descriptor (regular file, owner = the upload user, one link, size bound) and validated again, so root
 * never trusts what an unprivileged user wrote. consume() removes it after a successful restore/update, only
 * if the path still names the same inode.
 */
import { constants, type Stats } from "node:fs";
import { lstat, open, readdir, rename, stat, statfs, unlink, type FileHandle } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import type { Caller } from "../caller/caller.js";
import { requireRole } from "../caller/role.js";
import type { ConfigLocation } from "../config/load.js";
import type { Role } from "../config/model.js";
import { ExitCode, InputError, SignstarError } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import { withAudit, type AuditFields } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import {
  DEFAULT_BACKUP_UPLOAD_MAX_BYTES,
  DEFAULT_UPDATE_UPLOAD_MAX_BYTES,
  MAX_BACKUP_BYTES,
  MAX_UPDATE_BYTES,
  MAX_UPDATE_HEADER_BYTES,
  checkUpdateImage,
  parseBackup,
  type UpdateImageInfo,
} from "../nethsm-backup/index.js";
import { syncDirectory } from "../os/atomic-file.js";
import { streamBounded } from "../os/read-stream.js";

export type UploadKind = "backup" | "update";

export class SpoolError extends SignstarError {
  constructor(message: string, exitCode: number = ExitCode.Internal) {
    super(message, exitCode);
  }
}

export function uploadsDirOf(systemUser: string, root?: string): string {
  return hostLayout(root).userState(systemUser, "uploads");
}

export function uploadPath(kind: UploadKind, systemUser: string, root?: string): string {
  return join(uploadsDirOf(systemUser, root), `${kind}.bin`);
}

export interface ReceiveOptions<T> {
  readonly kind: UploadKind;
  readonly input: Readable;
  /** The upload user (the caller). */
  readonly systemUser: string;
  readonly uid: number;
  readonly maxBytes: number;
  /** Deadline for the whole upload. */
  readonly timeoutMs: number;
  /** Checks the complete temporary file; throws InputError to reject it. */
  readonly validate: (file: FileHandle, size: number) => Promise<T>;
  readonly root?: string;
  /** Aborts the upload (e.g. SIGHUP when the SSH session goes away); the temporary file is removed. */
  readonly signal?: AbortSignal;
  /** Free space kept beyond maxBytes (default UPLOAD_FREE_SPACE_HEADROOM). */
  readonly freeSpaceHeadroom?: number;
}

export interface Receipt<T> {
  readonly kind: UploadKind;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly info: T;
}

/**
 * The caller's uploads directory: made by signstar-configure-build's tmpfiles.d entry (root-owned chain down to
 * `.local/state/signstar`, `uploads/` owned by the upload user 0700). The tool runs as the user and cannot create
 * it; it checks it is a real directory of the caller below a root-owned parent (so root's later reads cannot be
 * redirected by swapping it).
 */
async function ensureUploadsDir(systemUser: string, uid: number, root?: string): Promise<string> {
  const dir = uploadsDirOf(systemUser, root);
  let parent: Stats;
  let st: Stats;
  try {
    parent = await lstat(dirname(dir));
    st = await lstat(dir);
  } catch {
    throw new SpoolError(`the uploads directory ${dir} of "${systemUser}" is missing; run signstar-configure-build and systemd-tmpfiles --create`, ExitCode.Config);
  }
  if (!parent.isDirectory() || parent.uid !== 0 || (parent.mode & 0o022) !== 0) {
    throw new SpoolError(`${dirname(dir)} must be a root-owned directory writable only by root`, ExitCode.Config);
  }
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new SpoolError(`${dir} must be a directory owned by "${systemUser}" with mode 0700`, ExitCode.Config);
  }
  return dir;
}

/** Removes `.part` files older than `maxAgeMs` (left behind by a process that was killed). */
async function removeStaleParts(dir: string, kind: UploadKind, maxAgeMs: number): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(`.${kind}.`) || !name.endsWith(".part")) continue;
    const p = join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (st && now - st.mtimeMs > maxAgeMs) await unlink(p).catch(() => undefined);
  }
}

/**
 * Free space an upload needs before it starts: room for the whole upload (`maxBytes`) plus this much headroom, so
 * that even a full-size upload leaves 1 GiB for everything else on the file system (logs, state, the previous
 * upload until it is replaced). Counted as blocks available to unprivileged users (statfs bavail), which is what
 * the uploading user can actually fill.
 */
export const UPLOAD_FREE_SPACE_HEADROOM = 1024 ** 3;
export const UPLOAD_LOCK_NAME = ".upload.lock";

/** Refuses to start when the file system of `dir` has less than `maxBytes + headroom` available. */
async function requireFreeSpace(dir: string, maxBytes: number, headroom: number): Promise<void> {
  const fs = await statfs(dir);
  const available = fs.bavail * fs.bsize;
  const needed = maxBytes + headroom;
  if (available < needed) {
    throw new SpoolError(
      `not enough free space for an upload: ${available} bytes available in ${dir}, but ${needed} are needed (the size limit ${maxBytes} plus ${headroom} bytes kept free)`,
      ExitCode.Denied,
    );
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One upload at a time per user (both kinds): `<uploads>/.upload.lock` created with O_EXCL holding the PID. A lock
 * whose process is gone, or older than `staleMs` (the upload deadline), is broken; any other is a refusal.
 * Returns the release function.
 */
async function lockUploads(dir: string, systemUser: string, staleMs: number): Promise<() => Promise<void>> {
  const path = join(dir, UPLOAD_LOCK_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new SpoolError(`cannot lock ${dir}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
    }
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined) continue;
    const pid = Number.parseInt((await readLock(path)) ?? "", 10);
    const stale = !st.isFile() || Date.now() - st.mtimeMs > staleMs || !(Number.isSafeInteger(pid) && pid > 0 && pidAlive(pid));
    if (!stale) break;
    await unlink(path).catch(() => undefined);
  }
  throw new SpoolError(`another upload of "${systemUser}" is in progress; only one upload at a time is accepted, try again when it has finished`, ExitCode.Denied);
}

async function readLock(path: string): Promise<string | undefined> {
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      return (await readHead(fh, 32)).toString("utf8");
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * Streams `input` into a temporary file with size and time bounds, validates it, then renames it into place.
 * One upload at a time per user; refused when the file system lacks room for a full upload plus the headroom.
 */
export async function receiveUpload<T>(opts: ReceiveOptions<T>): Promise<Receipt<T>> {
  const dir = await ensureUploadsDir(opts.systemUser, opts.uid, opts.root);
  const unlock = await lockUploads(dir, opts.systemUser, Math.max(opts.timeoutMs * 2, 60_000));
  try {
    await requireFreeSpace(dir, opts.maxBytes, opts.freeSpaceHeadroom ?? UPLOAD_FREE_SPACE_HEADROOM);
    return await receiveLocked(opts, dir);
  } finally {
    await unlock();
  }
}

async function receiveLocked<T>(opts: ReceiveOptions<T>, dir: string): Promise<Receipt<T>> {
  await removeStaleParts(dir, opts.kind, Math.max(opts.timeoutMs * 2, 60_000));
  const temp = join(dir, `.${opts.kind}.${randomBytes(8).toString("hex")}.part`);
  const final = join(dir, `${opts.kind}.bin`);
  const handle = await open(temp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  let renamed = false;
  try {
    const hash = createHash("sha256");
    const size = await pump(opts.input, handle, hash, opts);
    await handle.sync();
    const info = await opts.validate(handle, size);
    await handle.close();
    await rename(temp, final);
    renamed = true;
    await syncDirectory(dir);
    return { kind: opts.kind, path: final, size, sha256: hash.digest("hex"), info };
  } finally {
    await handle.close().catch(() => undefined);
    if (!renamed) await unlink(temp).catch(() => undefined);
  }
}

async function pump(input: Readable, handle: FileHandle, hash: ReturnType<typeof createHash>, opts: ReceiveOptions<unknown>): Promise<number> {
  const what = opts.kind === "backup" ? "the backup" : "the update image";
  let size = 0;
  let writing: Promise<unknown> = Promise.resolve();
  const error = await streamBounded(
    input,
    { what, maxBytes: opts.maxBytes, timeoutMs: opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) },
    (bytes, control) => {
      size += bytes.length;
      hash.update(bytes);
      input.pause();
      writing = writing
        .then(() => handle.write(bytes))
        .then(
          () => {
            if (!control.done) input.resume();
          },
          (e: unknown) => {
            control.stop(new SpoolError(`cannot write ${what}: ${(e as NodeJS.ErrnoException).code ?? "error"}`));
            throw e;
          },
        );
    },
  );
  if (error) {
    await writing.then(
      () => undefined,
      () => undefined,
    );
    throw error;
  }
  await writing;
  return size;
}

/** Reads `length` bytes from the start of an open file. */
export async function readHead(handle: FileHandle, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let off = 0;
  while (off < length) {
    const { bytesRead } = await handle.read(buf, off, length - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return buf.subarray(0, off);
}

// ------------------------------------------------------------------------------------------ configure's side

export interface TakeOptions {
  /** The upload users of this kind (configure passes the users of the role from the configuration). */
  readonly users: readonly { readonly name: string; readonly uid: number }[];
  readonly maxBytes: number;
  readonly root?: string;
}

export interface Uploaded<T> {
  readonly kind: UploadKind;
  readonly user: string;
  readonly path: string;
  readonly bytes: Buffer;
  readonly sha256: string;
  readonly uploadedAt: Date;
  readonly info: T;
  /** Removes the upload if the path still names the file that was read (call after it was applied). */
  consume(): Promise<void>;
}

/** The newest valid upload of `kind` among `users`, or undefined. Invalid files are reported, not returned. */
export async function takeUploaded<T>(
  kind: UploadKind,
  opts: TakeOptions,
  validate: (bytes: Buffer) => T,
): Promise<Uploaded<T> | undefined> {
  let best: Uploaded<T> | undefined;
  for (const user of opts.users) {
    const path = uploadPath(kind, user.name, opts.root);
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw new SpoolError(`cannot open the uploaded ${kind} ${path}: ${code ?? "error"}`);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new SpoolError(`the uploaded ${kind} ${path} is not a regular file`, ExitCode.BadInput);
      if (st.uid !== user.uid) throw new SpoolError(`the uploaded ${kind} ${path} is not owned by "${user.name}"`, ExitCode.BadInput);
      if (st.nlink !== 1) throw new SpoolError(`the uploaded ${kind} ${path} has ${st.nlink} links`, ExitCode.BadInput);
      if (st.size > opts.maxBytes) throw new SpoolError(`the uploaded ${kind} ${path} has ${st.size} bytes, more than ${opts.maxBytes}`, ExitCode.BadInput);
      if (best && best.uploadedAt.getTime() >= st.mtimeMs) continue;
      const bytes = await readHead(handle, st.size);
      if (bytes.length !== st.size) throw new SpoolError(`the uploaded ${kind} ${path} changed while being read`, ExitCode.BadInput);
      const info = validate(bytes);
      const { dev, ino } = st;
      best = {
        kind,
        user: user.name,
        path,
        bytes,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        uploadedAt: new Date(st.mtimeMs),
        info,
        async consume() {
          const now = await lstat(path).catch(() => undefined);
          if (now && now.isFile() && now.dev === dev && now.ino === ino) await unlink(path);
        },
      };
    } finally {
      await handle.close();
    }
  }
  return best;
}

/** True if a directory exists (helper for tests and configure diagnostics). */
export async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

// ------------------------------------------------------------------------------------------ the uploader's side

export const DEFAULT_UPLOAD_TIMEOUT_MS = 10 * 60_000;

export interface SpooledUploadInput {
  readonly stdin: Readable;
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  /** Default: the kind's default; at most the kind's limit. */
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Root prefix of /var/lib/signstar (tests); "/" in production. */
  readonly stateRoot?: string;
}

export interface SpooledUploadKind<T> {
  readonly kind: UploadKind;
  readonly role: Role;
  readonly program: string;
  readonly defaultMaxBytes: number;
  readonly limit: number;
  /** Names the bound in its error ("the backup size limit"). */
  readonly limitName: string;
  /** Checks the complete temporary file; throws InputError to reject it. */
  readonly validate: (file: FileHandle, size: number) => Promise<T>;
  /** Checks a stored upload again when configure takes it (root never trusts what a user wrote). */
  readonly check: (bytes: Buffer) => T;
  /** The bound configure reads an upload with. */
  readonly takeMaxBytes: number;
  /** What the audit entry says about the upload after bytes and sha256 (version, items). */
  readonly logFields: (info: T) => AuditFields;
  /** What the receipt says after stored, bytes and sha256. */
  readonly receiptFields: (info: T) => Record<string, unknown>;
}

export function checkMaxBytes(value: number | undefined, fallback: number, limit: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1 || n > limit) throw new SignstarError(`${what} must be an integer from 1 to ${limit}`, ExitCode.Usage);
  return n;
}

export async function spooledUpload<T>(input: SpooledUploadInput, spec: SpooledUploadKind<T>): Promise<string> {
  const { caller, log } = input;
  const { kind } = spec;
  const maxBytes = checkMaxBytes(input.maxBytes, spec.defaultMaxBytes, spec.limit, spec.limitName);
  const events = { log, success: { event: `${kind} uploaded`, severity: "notice" as const }, refusal: `${kind} upload refused`, fields: { user: caller.name } };
  return withAudit(events, async (audit) => {
    await requireRole(caller, input.config, [spec.role], spec.program);
    const receipt = await receiveUpload({
      kind,
      input: input.stdin,
      systemUser: caller.name,
      uid: caller.uid,
      maxBytes,
      timeoutMs: input.timeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS,
      validate: spec.validate,
      ...(input.signal ? { signal: input.signal } : {}),
      ...(input.stateRoot !== undefined ? { root: input.stateRoot } : {}),
    });
    audit.set({ bytes: receipt.size, sha256: receipt.sha256, ...spec.logFields(receipt.info) });
    return `${JSON.stringify({ stored: kind, bytes: receipt.size, sha256: receipt.sha256, ...spec.receiptFields(receipt.info) })}\n`;
  });
}

// ------------------------------------------------------------------------------------------ the two kinds

export interface BackupSummary {
  readonly version: number;
  readonly items: number;
}

/** Offline check of a backup upload (magic, version, framing, v1 end marker and trailer; no passphrase needed). */
export function checkBackupBytes(bytes: Uint8Array): BackupSummary {
  try {
    const file = parseBackup(bytes);
    return { version: file.version, items: file.encryptedItems.length };
  } catch (e) {
    if (e instanceof SignstarError) throw new InputError(`the upload is not a valid NetHSM backup: ${e.message}`);
    throw e;
  }
}

export const BACKUP_UPLOAD: SpooledUploadKind<BackupSummary> = {
  kind: "backup",
  role: "backup_upload",
  program: "signstar-upload-backup",
  defaultMaxBytes: DEFAULT_BACKUP_UPLOAD_MAX_BYTES,
  limit: MAX_BACKUP_BYTES,
  limitName: "the backup size limit",
  validate: async (file, size) => checkBackupBytes(await readHead(file, size)),
  check: checkBackupBytes,
  takeMaxBytes: MAX_BACKUP_BYTES,
  logFields: (info) => ({ version: info.version, items: info.items }),
  receiptFields: (info) => ({ version: info.version, items: info.items }),
};

/** The header is checked (magic, fields, "major.minor" version, block count = size); the device checks the vendor signature. */
export const UPDATE_UPLOAD: SpooledUploadKind<UpdateImageInfo> = {
  kind: "update",
  role: "update_upload",
  program: "signstar-upload-update",
  defaultMaxBytes: DEFAULT_UPDATE_UPLOAD_MAX_BYTES,
  limit: MAX_UPDATE_BYTES,
  limitName: "the update size limit",
  validate: async (file, size) => checkUpdateImage(await readHead(file, Math.min(size, MAX_UPDATE_HEADER_BYTES)), size),
  check: (bytes) => checkUpdateImage(bytes, bytes.length),
  takeMaxBytes: DEFAULT_UPDATE_UPLOAD_MAX_BYTES,
  logFields: (info) => ({ version: info.version }),
  receiptFields: (info) => ({ version: info.version, blocks: info.blocks }),
};

/** The upload users of a kind (configure passes the users of the role from the configuration, with their uids). */
export interface UploadUsers {
  readonly users: readonly { readonly name: string; readonly uid: number }[];
  readonly maxBytes?: number;
  readonly root?: string;
}

function take<T>(spec: SpooledUploadKind<T>, opts: UploadUsers): Promise<Uploaded<T> | undefined> {
  return takeUploaded(spec.kind, { users: opts.users, maxBytes: opts.maxBytes ?? spec.takeMaxBytes, ...(opts.root !== undefined ? { root: opts.root } : {}) }, spec.check);
}

/**
 * For signstar-configure (root): the newest structurally valid backup uploaded by one of the users, or undefined.
 * Validate it with the backup passphrase (decryptBackup) before restoring, and call consume() after the restore.
 */
export function takeUploadedBackup(opts: UploadUsers): Promise<Uploaded<BackupSummary> | undefined> {
  return take(BACKUP_UPLOAD, opts);
}

/**
 * For signstar-configure (root): the newest valid update image uploaded by one of the users, or undefined.
 * Upload it with NetHsmClient.uploadUpdate (admin), then commitUpdate (or cancelUpdate on failure), then consume().
 */
export function takeUploadedUpdate(opts: UploadUsers): Promise<Uploaded<UpdateImageInfo> | undefined> {
  return take(UPDATE_UPLOAD, opts);
}
