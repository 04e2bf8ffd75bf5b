/**
 * Directories that belong to one user (mode 0700, owner the user): created if missing, corrected if their
 * owner or mode is wrong, refused if they are symbolic links or not directories.
 */
import { lstat, mkdir, chown, chmod } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { SecretFileError } from "./errors.js";

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/** mkdir -p for root-owned 0755 parents (e.g. /var/lib/signstar/home); existing ones are left alone. */
export async function ensurePublicDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o755 });
}

/**
 * Ensures `base` and every directory from `base` down to `path` (inclusive) is a real directory owned by
 * `owner` with mode 0700. `base` itself is created if missing (like tmpfiles.d would create a home).
 */
export async function ensurePrivateDirs(base: string, path: string, owner: Owner): Promise<void> {
  const rel = relative(base, path);
  if (rel.startsWith("..")) throw new Error(`ensurePrivateDirs: ${path} is not below ${base}`);
  const parts = rel === "" ? [] : rel.split(sep);
  const dirs = [base];
  let current = base;
  for (const part of parts) {
    current = join(current, part);
    dirs.push(current);
  }
  for (const dir of dirs) await ensurePrivateDir(dir, owner);
}

async function ensurePrivateDir(dir: string, owner: Owner): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    if (!isMissing(error)) throw error;
    await mkdir(dir, { mode: 0o700 });
    st = await lstat(dir);
  }
  if (st.isSymbolicLink()) throw new SecretFileError(`secrets directory ${dir} is a symbolic link`, dir);
  if (!st.isDirectory()) throw new SecretFileError(`secrets directory ${dir} is not a directory`, dir);
  if (st.uid !== owner.uid || st.gid !== owner.gid) await chown(dir, owner.uid, owner.gid);
  if ((st.mode & 0o7777) !== 0o700) await chmod(dir, 0o700);
}
