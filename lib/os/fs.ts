/**
 * Small file-system helpers shared by every layer that keeps state on the host: errno codes, existence,
 * directories made or checked with an exact owner and mode (never through a symbolic link), and exclusive
 * atomic creation. Atomic replacement is ./atomic-file.ts, wiping ./wipe.ts, checked reading ./read-file.ts.
 */
import { constants } from "node:fs";
import { chmod, chown, link, lstat, mkdir, open } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { syncDirectory } from "./atomic-file.js";
import { errnoCode, isMissing, octal } from "./errno.js";
import { FileSafetyError } from "./errors.js";
import { wipeFile } from "./wipe.js";

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
  if (st.isSymbolicLink()) throw new FileSafetyError(`directory ${dir} is a symbolic link, which is refused`, dir);
  if (!st.isDirectory()) throw new FileSafetyError(`${dir} is not a directory`, dir);
  if (st.uid !== uid || st.gid !== gid) await chown(dir, uid, gid);
  if ((st.mode & 0o7777) !== mode) await chmod(dir, mode);
}

/**
 * Checks (without changing anything) that `dir` is a real directory owned by `uid` that group and others
 * cannot access. Returns false when it does not exist; throws FileSafetyError naming the failed check.
 */
export async function checkPrivateDir(dir: string, uid = 0): Promise<boolean> {
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    if (isMissing(error)) return false;
    throw new FileSafetyError(`cannot inspect directory ${dir}: ${errnoCode(error) ?? String(error)}`, dir);
  }
  if (st.isSymbolicLink()) throw new FileSafetyError(`directory ${dir} is a symbolic link, which is refused`, dir);
  if (!st.isDirectory()) throw new FileSafetyError(`${dir} is not a directory`, dir);
  if (st.uid !== uid) throw new FileSafetyError(`directory ${dir} is owned by uid ${st.uid}, but must be owned by uid ${uid}`, dir);
  if ((st.mode & 0o077) !== 0) {
    throw new FileSafetyError(`directory ${dir} has mode ${octal(st.mode)}, but group and others must have no access (0700)`, dir);
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
