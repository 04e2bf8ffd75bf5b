/**
 * Small file-system helpers for root-only state (admin credentials, share staging, uploaded shares):
 * directory checks, exclusive atomic creation, best-effort wiping. Atomic replacement itself is
 * `../atomic-file.ts`; checked reading of a secret file is `readCheckedSecretFile` in `../non-admin.ts`.
 */
import { constants } from "node:fs";
import { chmod, chown, link, lstat, mkdir, open, readdir, rm, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { basename, dirname, join } from "node:path";
import { SecretFileError } from "../errors.js";
import { syncDirectory } from "../atomic-file.js";

export function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export function isMissing(error: unknown): boolean {
  return errnoCode(error) === "ENOENT";
}

/** Whether `path` exists (not following a final symbolic link); other errors than ENOENT are thrown. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/**
 * Ensures `dir` is a real directory owned by `uid` with exactly `mode` (creating it, and its parents with
 * 0755, when missing; correcting owner and mode of an existing one). Refuses symbolic links and non-directories.
 */
export async function ensureDir(dir: string, mode: number, uid = 0, gid = 0): Promise<void> {
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    if (!isMissing(error)) throw error;
    try {
      await mkdir(dir, { mode });
    } catch (mkdirError) {
      if (errnoCode(mkdirError) !== "EEXIST") throw mkdirError;
    }
    st = await lstat(dir);
  }
  if (st.isSymbolicLink()) throw new SecretFileError(`directory ${dir} is a symbolic link, which is refused`, dir);
  if (!st.isDirectory()) throw new SecretFileError(`${dir} is not a directory`, dir);
  if (st.uid !== uid || st.gid !== gid) await chown(dir, uid, gid);
  if ((st.mode & 0o7777) !== mode) await chmod(dir, mode);
}

/**
 * Checks (without changing anything) that `dir` is a real directory owned by `uid` that group and others
 * cannot access. Returns false when it does not exist; throws SecretFileError naming the failed check.
 */
export async function checkPrivateDir(dir: string, uid = 0): Promise<boolean> {
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    if (isMissing(error)) return false;
    throw new SecretFileError(`cannot inspect directory ${dir}: ${errnoCode(error) ?? String(error)}`, dir);
  }
  if (st.isSymbolicLink()) throw new SecretFileError(`directory ${dir} is a symbolic link, which is refused`, dir);
  if (!st.isDirectory()) throw new SecretFileError(`${dir} is not a directory`, dir);
  if (st.uid !== uid) throw new SecretFileError(`directory ${dir} is owned by uid ${st.uid}, but must be owned by uid ${uid}`, dir);
  if ((st.mode & 0o077) !== 0) {
    throw new SecretFileError(`directory ${dir} has mode ${octal(st.mode)}, but group and others must have no access (0700)`, dir);
  }
  return true;
}

/** A temporary name next to `path` that our listings ignore (leading dot, `.tmp` suffix). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

/**
 * Creates `path` with `data` (mode 0600, owner uid/gid) atomically and exclusively: the data is written and
 * fsync'ed to a temporary file which is then hard-linked to `path`; link() fails with EEXIST when `path` exists,
 * so two concurrent writers can never both succeed. Returns false (and leaves nothing behind) if `path` exists.
 */
export async function createFileExclusive(path: string, data: string | Uint8Array, uid = 0, gid = 0): Promise<boolean> {
  const temp = tempNameFor(path);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await handle.chown(uid, gid);
      await handle.chmod(0o600);
      await handle.writeFile(typeof data === "string" ? Buffer.from(data, "utf8") : data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, path);
    } catch (error) {
      if (errnoCode(error) === "EEXIST") return false;
      throw error;
    }
    await syncDirectory(dirname(path));
    return true;
  } finally {
    await wipeFile(temp);
  }
}

/**
 * Best effort: overwrites a regular file with zeros (same length, fsync) and unlinks it. Symbolic links and
 * other non-regular entries are only unlinked (unlink never follows a link). A missing file is not an error.
 * The file is zero-filled only when it is a regular file with one link and, when `expectedUid` is given, owned
 * by that uid: in a directory a user can write, root must never overwrite a file the user linked in.
 * (On copy-on-write or journaling file systems the old blocks may survive; that is why uploads live on tmpfs.)
 */
export async function wipeFile(path: string, expectedUid?: number): Promise<void> {
  let before;
  try {
    before = await lstat(path);
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  if (before.isDirectory()) throw new SecretFileError(`${path} is a directory, which is not wiped here`, path);
  if (before.isFile()) {
    try {
      const handle = await open(path, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
      try {
        const st = await handle.stat();
        // Only overwrite when this is the last link: a hard-linked share (see createFileExclusive) must survive.
        const owned = expectedUid === undefined || st.uid === expectedUid;
        if (st.isFile() && st.nlink === 1 && owned && st.dev === before.dev && st.ino === before.ino && st.size > 0) {
          await handle.write(Buffer.alloc(Math.min(st.size, 16 * 1024 * 1024)), 0, undefined, 0);
          await handle.sync();
        }
      } finally {
        await handle.close();
      }
    } catch (error) {
      if (isMissing(error)) return;
      // ELOOP (replaced by a symlink), ENXIO (a FIFO) and similar: fall through to unlink.
    }
  }
  await unlink(path).catch((error: unknown) => {
    if (!isMissing(error)) throw error;
  });
}

export interface WipeReport {
  readonly wiped: number;
  /** `<path>: <reason>` of entries that could not be wiped. */
  readonly failures: string[];
  /** Subdirectories, left alone (never recursed into: a user may have planted links below them). */
  readonly skipped: string[];
}

/**
 * Wipes the entries of one directory (not recursing: subdirectories are skipped and reported), continuing past
 * a failed entry. `keep(name)` spares entries; `expectedUid` is passed on to wipeFile. A missing `dir` is fine.
 */
export async function wipeEntries(dir: string, opts: { readonly expectedUid?: number; readonly keep?: (name: string) => boolean } = {}): Promise<WipeReport> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isMissing(error)) return { wiped: 0, failures: [], skipped: [] };
    return { wiped: 0, failures: [`${dir}: ${errnoCode(error) ?? String(error)}`], skipped: [] };
  }
  let wiped = 0;
  const failures: string[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    if (opts.keep?.(name)) continue;
    const path = join(dir, name);
    try {
      const st = await lstat(path);
      if (st.isDirectory()) {
        skipped.push(path);
        continue;
      }
      await wipeFile(path, opts.expectedUid);
      wiped++;
    } catch (error) {
      if (isMissing(error)) continue;
      failures.push(`${path}: ${errnoCode(error) ?? (error instanceof Error ? error.message : String(error))}`);
    }
  }
  return { wiped, failures, skipped };
}

/** Throws one SecretFileError naming every failure of a wipe (nothing when there is none). */
export function throwWipeFailures(what: string, failures: readonly string[]): void {
  if (failures.length === 0) return;
  const shown = failures.slice(0, 5).join("; ");
  const more = failures.length > 5 ? ` (and ${failures.length - 5} more)` : "";
  throw new SecretFileError(`${what}: ${failures.length} entr${failures.length === 1 ? "y" : "ies"} could not be wiped: ${shown}${more}`, failures[0] ?? "");
}

/**
 * Root: removes a directory a user may have filled (e.g. the upload directory of a former holder). Its files are
 * wiped first (not recursing), then the whole tree goes with `rm -rf --one-file-system` (GNU rm never follows
 * symbolic links). Refused unless `dir` is a real directory whose parent is a root-owned directory, so nothing
 * outside it can be reached. A missing `dir` is fine.
 */
export async function removeUserTree(dir: string): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  if (!st.isDirectory()) {
    await wipeFile(dir);
    return;
  }
  const parent = await lstat(dirname(dir));
  if (!parent.isDirectory() || parent.uid !== 0 || (parent.mode & 0o022) !== 0) {
    throw new SecretFileError(`refusing to remove ${dir}: its parent is not a root-owned directory writable only by root`, dir);
  }
  await wipeEntries(dir, { expectedUid: st.uid });
  await new Promise<void>((resolve, reject) => {
    execFile("rm", ["-rf", "--one-file-system", "--", dir], { timeout: 60_000 }, (error) =>
      error ? reject(new SecretFileError(`cannot remove ${dir}: rm failed (${error.message.split("\n")[0] ?? ""})`, dir)) : resolve(),
    );
  });
}

/**
 * Wipes every regular file below `dir` (recursively) and removes `dir`. Only for root-only directories (the
 * share store's state): entries are classified with lstat semantics (readdir file types), links are unlinked.
 */
export async function wipeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await wipeTree(path);
    else await wipeFile(path);
  }
  await rm(dir, { recursive: true, force: true });
}
