/**
 * Offline NetHSM file formats: the backup reader and writer (the format keyfender's System.backup writes,
 * `src/keyfender/hsm.ml`, Nitrokey/nethsm 4e192fb9; real files in tests/fixtures/nethsm/backup-vectors) and the update image check.
 */
export { BackupError } from "./errors.js";
export { DEVICE_SCRYPT, TEST_SCRYPT, deriveKey, type ScryptParams } from "./format.js";
export { parseBackup, DEFAULT_BACKUP_UPLOAD_MAX_BYTES, MAX_BACKUP_BYTES, type BackupFile, type BackupVersion } from "./parse.js";
export {
  checkUpdateImage,
  DEFAULT_UPDATE_UPLOAD_MAX_BYTES,
  MAX_UPDATE_BYTES,
  MAX_UPDATE_HEADER_BYTES,
  UPDATE_MAGIC,
  type UpdateImageInfo,
} from "./update-image.js";
export { decryptBackup, listItems, type BackupEntry, type BackupSecret, type DecryptedBackup } from "./decrypt.js";
export { openBackup, openBackupWithDomainKey, backupUnlockSalt, sealEntries, lockDomainKey, storeKey, protectionOf, type OpenedBackup, type OpenedEntry } from "./inner.js";
export { encryptBackup, type BackupContents } from "./write.js";
export * from "./records.js";
export { readBackupFile } from "./read-file.js";
export { validateBackup, type BackupValidation } from "./validate.js";
