/** Writing a NetHSM backup (version 1, the format current devices write), used by the stand-in. */
import { BackupError } from "./errors.js";
import { encodeField, encrypt, MAGIC, TRAILER } from "./format.js";
import type { BackupEntry } from "./decrypt.js";

export interface BackupContents {
  readonly salt: Uint8Array;
  /** K = scrypt(backupPassphrase, salt). */
  readonly backupKey: Uint8Array;
  readonly lockedDomainKey: Uint8Array;
  readonly deviceId: string;
  readonly configStoreKey: Uint8Array;
  /** Entries as stored on the device (store entries already sealed, see inner.ts sealEntries). */
  readonly entries: readonly BackupEntry[];
}

export function encryptBackup(c: BackupContents): Buffer {
  if (c.backupKey.length !== 32) throw new BackupError("backup key must be 32 bytes");
  const K = c.backupKey;
  const parts: Buffer[] = [
    Buffer.from(MAGIC, "ascii"),
    Buffer.from([1]),
    encodeField(c.salt),
    encodeField(encrypt(K, "backup-version", Buffer.from([1]))),
    encodeField(encrypt(K, "domain-key", c.lockedDomainKey)),
    encodeField(encrypt(K, "backup-device-id", Buffer.from(c.deviceId, "ascii"))),
    encodeField(encrypt(K, "backup-config-store-key", c.configStoreKey)),
  ];
  for (const e of c.entries) {
    parts.push(encodeField(encrypt(K, "backup", Buffer.concat([encodeField(Buffer.from(e.key, "utf8")), e.value]))));
  }
  parts.push(Buffer.from([0, 0, 0]), Buffer.from(TRAILER, "ascii"));
  return Buffer.concat(parts);
}
