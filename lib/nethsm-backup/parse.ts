/**
 * Outer layer of a NetHSM backup (as keyfender's System.backup writes it, `src/keyfender/hsm.ml`, Nitrokey/nethsm 4e192fb9): validation
 * without any passphrase.
 * Magic, version ∈ {0,1}, the field chain parses exactly to the end, and for v1 the `00 00 00` end
 * marker plus the `_NETHSM_BACKUP_END_` trailer.
 */
import { BackupError } from "./errors.js";
import { FieldReader, MAGIC, TRAILER } from "./format.js";

/** Upper bound on a backup this code will read (the store of a device is far smaller). */
export const MAX_BACKUP_BYTES = 256 * 1024 * 1024;
/** Default bound of signstar-upload-backup (the administrator can set another, up to MAX_BACKUP_BYTES). */
export const DEFAULT_BACKUP_UPLOAD_MAX_BYTES = 64 * 1024 * 1024;
export const MAX_BACKUP_ITEMS = 1_000_000;

export type BackupVersion = 0 | 1;

/** A structurally valid backup whose fields are still encrypted. */
export interface BackupFile {
  readonly version: BackupVersion;
  readonly salt: Uint8Array;
  readonly encryptedVersion: Uint8Array;
  readonly encryptedDomainKey: Uint8Array;
  /** v1 only. */
  readonly encryptedDeviceId?: Uint8Array;
  /** v1 only. */
  readonly encryptedConfigStoreKey?: Uint8Array;
  readonly encryptedItems: readonly Uint8Array[];
}

export function parseBackup(bytes: Uint8Array): BackupFile {
  if (bytes.length > MAX_BACKUP_BYTES) throw new BackupError(`backup is ${bytes.length} bytes, more than ${MAX_BACKUP_BYTES}`);
  const magic = Buffer.from(MAGIC, "ascii");
  if (bytes.length < magic.length + 1 || !Buffer.from(bytes.subarray(0, magic.length)).equals(magic)) {
    throw new BackupError("not a NetHSM backup file (bad magic)");
  }
  const versionByte = bytes[magic.length]!;
  if (versionByte !== 0 && versionByte !== 1) {
    throw new BackupError(`unsupported NetHSM backup version ${versionByte} (supported: 0, 1)`);
  }
  const version: BackupVersion = versionByte;
  const trailer = Buffer.from(TRAILER, "ascii");
  let end = bytes.length;
  if (version === 1) {
    const suffixLen = 3 + trailer.length;
    const suffix = bytes.subarray(bytes.length - suffixLen);
    if (
      bytes.length < magic.length + 1 + suffixLen ||
      suffix[0] !== 0 || suffix[1] !== 0 || suffix[2] !== 0 ||
      !Buffer.from(suffix.subarray(3)).equals(trailer)
    ) {
      throw new BackupError("truncated NetHSM backup: the version 1 end marker and trailer are missing");
    }
    end = bytes.length - suffixLen;
  }
  const r = new FieldReader(bytes, magic.length + 1, end);
  const salt = r.field("salt");
  if (salt.length === 0) throw new BackupError("backup salt is empty");
  const encryptedVersion = r.field("encrypted backup-version");
  const encryptedDomainKey = r.field("encrypted domain-key");
  const encryptedDeviceId = version === 1 ? r.field("encrypted backup-device-id") : undefined;
  const encryptedConfigStoreKey = version === 1 ? r.field("encrypted backup-config-store-key") : undefined;
  const encryptedItems: Uint8Array[] = [];
  while (r.remaining > 0) {
    if (encryptedItems.length >= MAX_BACKUP_ITEMS) throw new BackupError(`backup has more than ${MAX_BACKUP_ITEMS} items`);
    const item = r.field(`item ${encryptedItems.length + 1}`);
    if (item.length === 0) throw new BackupError(`item ${encryptedItems.length + 1} at byte ${r.offset - 3} is empty`);
    encryptedItems.push(item);
  }
  return {
    version,
    salt,
    encryptedVersion,
    encryptedDomainKey,
    ...(encryptedDeviceId ? { encryptedDeviceId } : {}),
    ...(encryptedConfigStoreKey ? { encryptedConfigStoreKey } : {}),
    encryptedItems,
  };
}
