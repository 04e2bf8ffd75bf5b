/**
 * Best-effort wiping of secrets on disk: zero-fill then unlink, directory passes that never recurse into what a
 * user may have planted, and the removal of a user-filled directory tree. Root runs these in directories users
 * can write, so nothing here follows a symbolic link or overwrites a file that is not the expected owner's.
 */
import { constants } from "node:fs";
import { lstat, open, readdir, rm, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { FileSafetyError } from "./errors.js";
import { errnoCode, isMissing } from "./errno.js";
import { run } from "./run.js";

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
  if (before.isDirectory()) throw new FileSafetyError(`${path} is a directory, which is not wiped here`, path);
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

/** Throws one FileSafetyError naming every failure of a wipe (nothing when there is none). */
export function throwWipeFailures(what: string, failures: readonly string[]): void {
  if (failures.length === 0) return;
  const shown = failures.slice(0, 5).join("; ");
  const more = failures.length > 5 ? ` (and ${failures.length - 5} more)` : "";
  throw new FileSafetyError(`${what}: ${failures.length} entr${failures.length === 1 ? "y" : "ies"} could not be wiped: ${shown}${more}`, failures[0] ?? "");
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
    throw new FileSafetyError(`refusing to remove ${dir}: its parent is not a root-owned directory writable only by root`, dir);
  }
  await wipeEntries(dir, { expectedUid: st.uid });
  const result = await run(["rm", "-rf", "--one-file-system", "--", dir], { timeoutMs: 60_000 });
  if (result.code !== 0) {
    throw new FileSafetyError(`cannot remove ${dir}: rm failed (status ${String(result.code)}: ${result.stderr.trim().split("\n")[0] ?? ""})`, dir);
  }
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
