/**
 * Upload spool of signstar-upload-backup and signstar-upload-update, and the reading side for
 * signstar-configure (root).
 *
 * Ownership model: an upload lives in its uploader's own state directory,
 * `/var/lib/signstar/home/<user>/.local/state/signstar/uploads/<kind>.bin` (directories 0700, file 0600, all
 * owned by the upload user; the home is created by signstar-configure-build's tmpfiles.d entry). The tool
 * runs as that user and never needs a root-owned writable place; no other Signstar user can read or replace it.
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
import { lstat, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { ExitCode, SignstarError } from "../../errors.js";
import { homeOf } from "../../secrets/non-admin-paths.js";
import { syncDirectory } from "../../secrets/atomic-file.js";
import { streamBounded } from "../read-bounded.js";

export type UploadKind = "backup" | "update";

/** Below the user's home. */
export const UPLOADS_SUBDIR = [".local", "state", "signstar", "uploads"] as const;

export class SpoolError extends SignstarError {
  constructor(message: string, exitCode: number = ExitCode.Internal) {
    super(message, exitCode);
  }
}

export function uploadsDirOf(systemUser: string, root?: string): string {
  return join(homeOf(root, systemUser), ...UPLOADS_SUBDIR);
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
}

export interface Receipt<T> {
  readonly kind: UploadKind;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly info: T;
}

/** Creates the uploads directory chain below the (existing) home, each 0700 and owned by the caller. */
async function ensureUploadsDir(systemUser: string, uid: number, root?: string): Promise<string> {
  const home = homeOf(root, systemUser);
  let st: Stats;
  try {
    st = await lstat(home);
  } catch {
    throw new SpoolError(`the home ${home} of "${systemUser}" is missing; run signstar-configure-build`, ExitCode.Config);
  }
  if (!st.isDirectory() || st.uid !== uid) throw new SpoolError(`the home ${home} is not a directory owned by "${systemUser}"`, ExitCode.Config);
  let dir = home;
  for (const part of UPLOADS_SUBDIR) {
    dir = join(dir, part);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new SpoolError(`cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
    }
    const d = await lstat(dir);
    if (!d.isDirectory() || d.uid !== uid || (d.mode & 0o022) !== 0) {
      throw new SpoolError(`${dir} must be a directory owned by "${systemUser}" and writable by nobody else`, ExitCode.Config);
    }
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

/** Streams `input` into a temporary file with size and time bounds, validates it, then renames it into place. */
export async function receiveUpload<T>(opts: ReceiveOptions<T>): Promise<Receipt<T>> {
  const dir = await ensureUploadsDir(opts.systemUser, opts.uid, opts.root);
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
