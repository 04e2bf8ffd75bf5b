/**
 * signstar-upload-backup (ForceCommand of backup_upload users): a NetHSM backup on stdin, bounded in size and
 * time, checked offline, stored atomically in the uploader's spool (lib/spool/uploads.ts) for signstar-configure,
 * which restores it once the admin secret (it holds the backup passphrase) is available. Prints a JSON receipt.
 */
import { BACKUP_UPLOAD, spooledUpload, type SpooledUploadInput } from "../spool/uploads.js";

/** maxBytes: default DEFAULT_BACKUP_UPLOAD_MAX_BYTES, at most MAX_BACKUP_BYTES (lib/nethsm-backup). */
export type UploadBackupInput = SpooledUploadInput;

export function uploadBackup(input: UploadBackupInput): Promise<string> {
  return spooledUpload(input, BACKUP_UPLOAD);
}
