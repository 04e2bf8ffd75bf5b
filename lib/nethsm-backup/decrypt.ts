/**
 * Decrypting the outer layer of a NetHSM backup with the backup passphrase (keyfender's backup encryption,
 * `src/keyfender/hsm.ml`, Nitrokey/nethsm 4e192fb9).
 * Entries stay as the device stored them (most values are encrypted again with store keys; see ./inner.ts).
 */
import { BackupError } from "./errors.js";
import { decrypt, deriveKey, DEVICE_SCRYPT, FieldReader, type ScryptParams } from "./format.js";
import type { BackupFile, BackupVersion } from "./parse.js";

export interface BackupEntry {
  /** Store path with a leading `/`, e.g. `/authentication/admin`. */
  readonly key: string;
  readonly value: Uint8Array;
}

export interface DecryptedBackup {
  readonly version: BackupVersion;
  readonly salt: Uint8Array;
  /** The backup key K = scrypt(backupPassphrase, salt); the device stores it as /config/backup-key. */
  readonly backupKey: Uint8Array;
  /** enc(U, "passphrase", domainKey), U = scrypt(unlockPassphrase, unlockSalt). */
  readonly lockedDomainKey: Uint8Array;
  /** v1 only. */
  readonly deviceId?: string;
  /** v1 only: CFG, the key of the `/local/<id>/config/*` entries. */
  readonly configStoreKey?: Uint8Array;
  readonly entries: readonly BackupEntry[];
}

export type BackupSecret = { readonly passphrase: string; readonly scrypt?: ScryptParams } | { readonly key: Uint8Array };

export async function backupKeyOf(file: BackupFile, secret: BackupSecret): Promise<Uint8Array> {
  return "key" in secret ? secret.key : deriveKey(secret.passphrase, file.salt, secret.scrypt ?? DEVICE_SCRYPT);
}

export async function decryptBackup(file: BackupFile, secret: BackupSecret): Promise<DecryptedBackup> {
  const K = await backupKeyOf(file, secret);
  const inner = decrypt(K, "backup-version", file.encryptedVersion, "backup-version", ": is the backup passphrase correct?");
  if (inner.length !== 1 || inner[0] !== file.version) {
    throw new BackupError(`inner backup version ${inner.toString("hex")} differs from the outer version ${file.version}`);
  }
  const lockedDomainKey = decrypt(K, "domain-key", file.encryptedDomainKey, "domain-key");
  let deviceId: string | undefined;
  let configStoreKey: Uint8Array | undefined;
  if (file.encryptedDeviceId && file.encryptedConfigStoreKey) {
    deviceId = decrypt(K, "backup-device-id", file.encryptedDeviceId, "backup-device-id").toString("utf8");
    if (!/^[A-Za-z0-9]{1,64}$/.test(deviceId)) throw new BackupError("backup-device-id is not a device id");
    configStoreKey = decrypt(K, "backup-config-store-key", file.encryptedConfigStoreKey, "backup-config-store-key");
    if (configStoreKey.length !== 32) throw new BackupError(`backup-config-store-key is ${configStoreKey.length} bytes, expected 32`);
  }
  const entries = file.encryptedItems.map((item, i): BackupEntry => {
    const plain = decrypt(K, "backup", item, `item ${i + 1}`);
    const r = new FieldReader(plain, 0);
    const keyBytes = r.field(`key of item ${i + 1}`);
    const key = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    let path: string;
    try {
      path = key.decode(keyBytes);
    } catch {
      throw new BackupError(`key of item ${i + 1} is not valid UTF-8`);
    }
    if (!path.startsWith("/")) throw new BackupError(`key of item ${i + 1} does not start with "/"`);
    return { key: path, value: plain.subarray(r.offset) };
  });
  return {
    version: file.version,
    salt: file.salt,
    backupKey: K,
    lockedDomainKey,
    ...(deviceId !== undefined ? { deviceId } : {}),
    ...(configStoreKey ? { configStoreKey } : {}),
    entries,
  };
}

export function listItems(backup: DecryptedBackup): string[] {
  return backup.entries.map((e) => e.key);
}
