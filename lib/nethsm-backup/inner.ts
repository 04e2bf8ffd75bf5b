/**
 * Inner layer of a NetHSM backup (keyfender's stores, `src/keyfender/`, Nitrokey/nethsm 4e192fb9): with the unlock passphrase, recover the domain key
 * and decrypt every store entry. Also the reverse (`sealStores`), used by the stand-in to write backups.
 */
import { createHash } from "node:crypto";
import { BackupError } from "./errors.js";
import { decrypt, deriveKey, DEVICE_SCRYPT, encrypt, type ScryptParams } from "./format.js";
import type { BackupEntry, DecryptedBackup } from "./decrypt.js";

export type StoreName = "auth_store" | "key_store" | "namespace_store" | "config_store";

/** SHA-256(domainKey ‖ name): the AES-GCM key of one store. */
export function storeKey(domainKey: Uint8Array, store: StoreName): Buffer {
  return createHash("sha256").update(domainKey).update(store, "ascii").digest();
}

/** Which protection an entry has, by its path. */
export type Protection =
  | { readonly kind: "plain" }
  | { readonly kind: "store"; readonly store: StoreName }
  | { readonly kind: "local-config" }
  | { readonly kind: "device" };

export function protectionOf(path: string, version: 0 | 1): Protection {
  if (path.startsWith("/authentication/")) return { kind: "store", store: "auth_store" };
  if (path.startsWith("/key/")) return { kind: "store", store: "key_store" };
  if (path.startsWith("/namespace/")) return { kind: "store", store: "namespace_store" };
  if (/^\/local\/[^/]+\/config\//.test(path)) return { kind: "local-config" };
  if (/^(\/local\/[^/]+)?\/domain-key\//.test(path)) return { kind: "device" };
  if (version === 1 && path.startsWith("/config/") && path !== "/config/version") return { kind: "store", store: "config_store" };
  return { kind: "plain" };
}

export interface OpenedEntry {
  readonly key: string;
  /** The plaintext, or undefined for entries sealed with the device key (not recoverable offline). */
  readonly value: Uint8Array | undefined;
}

export interface OpenedBackup {
  readonly domainKey: Uint8Array;
  readonly unlockSalt: Uint8Array;
  readonly entries: readonly OpenedEntry[];
}

function unlockSaltOf(backup: DecryptedBackup): Uint8Array {
  const local = backup.entries.find((e) => /^\/local\/[^/]+\/config\/unlock-salt$/.test(e.key));
  if (backup.version === 1) {
    if (!local || !backup.configStoreKey) throw new BackupError("backup has no /local/<id>/config/unlock-salt entry");
    return decrypt(backup.configStoreKey, local.key, local.value, local.key);
  }
  const v0 = backup.entries.find((e) => e.key === "/config/unlock-salt");
  if (!v0) throw new BackupError("backup has no /config/unlock-salt entry");
  return v0.value;
}

export function backupUnlockSalt(backup: DecryptedBackup): Uint8Array {
  return unlockSaltOf(backup);
}

/** Decrypts the domain key with the unlock passphrase, then every entry that can be decrypted offline. */
export async function openBackup(
  backup: DecryptedBackup,
  unlockPassphrase: string,
  scrypt: ScryptParams = DEVICE_SCRYPT,
): Promise<OpenedBackup> {
  const unlockSalt = unlockSaltOf(backup);
  const U = await deriveKey(unlockPassphrase, unlockSalt, scrypt);
  const domainKey = decrypt(U, "passphrase", backup.lockedDomainKey, "the domain key", ": is the unlock passphrase correct?");
  return openBackupWithDomainKey(backup, domainKey, unlockSalt);
}

/** Like openBackup, with the domain key already known (a device restoring its own backup). */
export function openBackupWithDomainKey(backup: DecryptedBackup, domainKey: Uint8Array, unlockSalt: Uint8Array): OpenedBackup {
  if (domainKey.length !== 32) throw new BackupError(`domain key is ${domainKey.length} bytes, expected 32`);
  const entries = backup.entries.map((e): OpenedEntry => {
    const p = protectionOf(e.key, backup.version);
    switch (p.kind) {
      case "plain":
        return e;
      case "device":
        return { key: e.key, value: undefined };
      case "local-config":
        if (!backup.configStoreKey) return { key: e.key, value: undefined };
        return { key: e.key, value: decrypt(backup.configStoreKey, e.key, e.value, e.key) };
      case "store":
        return { key: e.key, value: decrypt(storeKey(domainKey, p.store), e.key, e.value, e.key) };
    }
  });
  return { domainKey, unlockSalt, entries };
}

/** Encrypts plaintext entries with the store keys of `domainKey` (the inverse of openBackup for store entries). */
export function sealEntries(
  entries: readonly { key: string; value: Uint8Array }[],
  domainKey: Uint8Array,
  configStoreKey: Uint8Array,
): BackupEntry[] {
  return entries.map((e) => {
    const p = protectionOf(e.key, 1);
    switch (p.kind) {
      case "plain":
        return e;
      case "device":
        throw new BackupError(`entry ${e.key} is sealed with a device key and cannot be written`);
      case "local-config":
        return { key: e.key, value: encrypt(configStoreKey, e.key, e.value) };
      case "store":
        return { key: e.key, value: encrypt(storeKey(domainKey, p.store), e.key, e.value) };
    }
  });
}

/** lockedDomainKey = enc(scrypt(unlockPassphrase, unlockSalt), "passphrase", domainKey). */
export async function lockDomainKey(
  domainKey: Uint8Array,
  unlockPassphrase: string,
  unlockSalt: Uint8Array,
  scrypt: ScryptParams = DEVICE_SCRYPT,
): Promise<Buffer> {
  return encrypt(await deriveKey(unlockPassphrase, unlockSalt, scrypt), "passphrase", domainKey);
}
