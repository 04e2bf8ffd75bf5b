import { open } from "node:fs/promises";
import { BackupError } from "./errors.js";
import { MAX_BACKUP_BYTES } from "./parse.js";

/** Reads a backup file with a size bound (the whole file; backups are small). */
export async function readBackupFile(path: string, maxBytes = MAX_BACKUP_BYTES): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new BackupError(`cannot open backup ${path}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BackupError(`backup ${path} is not a regular file`);
    if (st.size > maxBytes) throw new BackupError(`backup ${path} is ${st.size} bytes, more than ${maxBytes}`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
