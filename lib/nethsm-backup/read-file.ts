import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { BackupError } from "./errors.js";
import { MAX_BACKUP_BYTES } from "./parse.js";

/** Reads a backup file with a size bound (the whole file; backups are small) with the checked reader. */
export async function readBackupFile(path: string, maxBytes = MAX_BACKUP_BYTES): Promise<Buffer> {
  try {
    // A path the administrator named on the command line: a symbolic link is followed.
    return (await readCheckedFile(path, { what: "backup", maxBytes, followSymlinks: true })).data;
  } catch (e) {
    if (e instanceof FileReadError) throw new BackupError(e.message, { cause: e });
    throw e;
  }
}
