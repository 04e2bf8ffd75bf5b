/**
 * One-call validation of a NetHSM backup, like `nethsm system validate-backup` (nethsm-cli, and Signstar's
 * `nethsm-backup/src/lib.rs`, archlinux/signstar d6ad4e9):
 * the structure always; with the backup passphrase also every GCM tag and the inner version.
 */
import { decryptBackup, listItems, type BackupSecret } from "./decrypt.js";
import { parseBackup, type BackupVersion } from "./parse.js";

export interface BackupValidation {
  readonly version: BackupVersion;
  readonly itemCount: number;
  /** Item paths, when a passphrase (or key) was given. */
  readonly items?: readonly string[];
}

export async function validateBackup(bytes: Uint8Array, secret?: BackupSecret): Promise<BackupValidation> {
  const file = parseBackup(bytes);
  if (!secret) return { version: file.version, itemCount: file.encryptedItems.length };
  const items = listItems(await decryptBackup(file, secret));
  return { version: file.version, itemCount: items.length, items };
}
