/**
 * Atomic file replacement with an exact mode and owner: the content is written to a temporary file in the
 * target's directory (O_EXCL, O_NOFOLLOW), owner and mode are set on the descriptor before any byte is
 * written, the data is fsync'ed, renamed over the target and the directory is fsync'ed. Readers therefore see
 * either the old or the new file, never a partial one, and never a moment with a wider mode.
 */
import { constants } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  /** Permission bits, e.g. 0o600 or 0o644 (applied with fchmod, so the umask does not matter). */
  readonly mode: number;
  /** Owner to set with fchown (needs root). Leave out to keep the caller's uid/gid. */
  readonly uid?: number;
  readonly gid?: number;
}

/** Writes `data` to `path` atomically (see module comment). Throws the underlying fs error on failure. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(temp, flags, opts.mode & 0o600);
  let renamed = false;
  try {
    try {
      if (opts.uid !== undefined || opts.gid !== undefined) {
        await handle.chown(opts.uid ?? -1, opts.gid ?? -1);
      }
      await handle.chmod(opts.mode);
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    renamed = true;
    await syncDirectory(dir);
  } finally {
    if (!renamed) await unlink(temp).catch(() => undefined);
  }
}

/** fsync a directory so a rename or unlink in it is durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
