/**
 * signstar-upload-backup (ForceCommand of backup_upload users): a NetHSM backup on stdin, bounded in size and
 * time, checked offline (magic, version, field framing, v1 end marker and trailer; no passphrase needed),
 * stored atomically in the uploader's spool (./operator/spool.ts) for signstar-configure, which restores it
 * once the admin secret (it holds the backup passphrase) is available. Prints a one-line JSON receipt.
 */
import { SignstarError } from "../errors.js";
import { DEFAULT_BACKUP_UPLOAD_MAX_BYTES, MAX_BACKUP_BYTES, parseBackup, type BackupFile } from "../nethsm-backup/index.js";
import { readHead, takeUploaded, type Uploaded } from "./operator/spool.js";
import { InputError } from "../errors.js";
import { spooledUpload, type SpooledUploadInput } from "./spooled-upload.js";


/** maxBytes: default DEFAULT_BACKUP_UPLOAD_MAX_BYTES, at most MAX_BACKUP_BYTES. */
export type UploadBackupInput = SpooledUploadInput;

export interface BackupSummary {
  readonly version: number;
  readonly items: number;
}

function summary(file: BackupFile): BackupSummary {
  return { version: file.version, items: file.encryptedItems.length };
}

export function checkBackupBytes(bytes: Uint8Array): BackupSummary {
  try {
    return summary(parseBackup(bytes));
  } catch (e) {
    if (e instanceof SignstarError) throw new InputError(`the upload is not a valid NetHSM backup: ${e.message}`);
    throw e;
  }
}

export function uploadBackup(input: UploadBackupInput): Promise<string> {
  return spooledUpload(input, {
    kind: "backup",
    role: "backup_upload",
    program: "signstar-upload-backup",
    defaultMaxBytes: DEFAULT_BACKUP_UPLOAD_MAX_BYTES,
    limit: MAX_BACKUP_BYTES,
    limitName: "the backup size limit",
    validate: async (file, size) => checkBackupBytes(await readHead(file, size)),
    logFields: (info) => ({ version: info.version, items: info.items }),
    receiptFields: (info) => ({ version: info.version, items: info.items }),
  });
}

/**
 * For signstar-configure (root): the newest structurally valid backup uploaded by one of `users` (the
 * backup_upload users of the configuration, with their uids), or undefined. Validate it with the backup
 * passphrase (decryptBackup) before restoring, and call consume() after the restore succeeded.
 */
export function takeUploadedBackup(opts: {
  readonly users: readonly { readonly name: string; readonly uid: number }[];
  readonly maxBytes?: number;
  readonly root?: string;
}): Promise<Uploaded<BackupSummary> | undefined> {
  return takeUploaded("backup", { users: opts.users, maxBytes: opts.maxBytes ?? MAX_BACKUP_BYTES, ...(opts.root !== undefined ? { root: opts.root } : {}) }, checkBackupBytes);
}
