/**
 * `signstar-admin validate-backup [--passphrase-file FILE] BACKUP`: offline validation of a NetHSM backup with
 * the backup reader. Without a passphrase: magic, version, framing, end marker (what upload-backup checks).
 * With the backup passphrase: every AES-GCM tag verifies and the inner version equals the outer one.
 * The passphrase file is read verbatim, as Nitrokey's `nethsm system validate-backup` does (a trailing newline
 * is part of the passphrase; the error says so when that is the likely cause).
 */
import { open } from "node:fs/promises";
import { ExitCode, SignstarError } from "../errors.js";
import { decryptBackup, parseBackup, readBackupFile, type ScryptParams } from "../nethsm-backup/index.js";

export const MAX_PASSPHRASE_FILE_BYTES = 4096;

export interface ValidateBackupInput {
  readonly backupFile: string;
  readonly passphraseFile?: string;
  /** Tests only: scrypt parameters of a stand-in that does not use the device's. */
  readonly scrypt?: ScryptParams;
}

export interface ValidationReport {
  readonly version: number;
  readonly items: number;
  readonly decrypted: boolean;
  readonly deviceId?: string;
  readonly entries?: number;
}

async function readPassphraseFile(path: string): Promise<string> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new SignstarError(`cannot open the passphrase file ${path}: ${(e as NodeJS.ErrnoException).code ?? "error"}`, ExitCode.Secret);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SignstarError(`the passphrase file ${path} is not a regular file`, ExitCode.Secret);
    if (st.size === 0 || st.size > MAX_PASSPHRASE_FILE_BYTES) {
      throw new SignstarError(`the passphrase file ${path} has ${st.size} bytes (1 to ${MAX_PASSPHRASE_FILE_BYTES} allowed)`, ExitCode.Secret);
    }
    const bytes = await fh.readFile();
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new SignstarError(`the passphrase file ${path} is not UTF-8`, ExitCode.Secret);
    }
  } finally {
    await fh.close();
  }
}

export async function validateBackup(input: ValidateBackupInput): Promise<ValidationReport> {
  const bytes = await readBackupFile(input.backupFile);
  const file = parseBackup(bytes);
  const base = { version: file.version, items: file.encryptedItems.length };
  if (input.passphraseFile === undefined) return { ...base, decrypted: false };
  const passphrase = await readPassphraseFile(input.passphraseFile);
  try {
    const opened = await decryptBackup(file, { passphrase, ...(input.scrypt ? { scrypt: input.scrypt } : {}) });
    return { ...base, decrypted: true, entries: opened.entries.length, ...(opened.deviceId !== undefined ? { deviceId: opened.deviceId } : {}) };
  } catch (e) {
    if (e instanceof SignstarError && /\r?\n$/.test(passphrase)) {
      throw new SignstarError(`${e.message} (the passphrase file ends with a newline, which is part of the passphrase)`, e.exitCode);
    }
    throw e;
  }
}

export function formatReport(path: string, r: ValidationReport): string {
  const what = r.decrypted
    ? `decrypts with the passphrase; ${r.entries ?? 0} entries${r.deviceId !== undefined ? `; device ${r.deviceId}` : ""}`
    : "structure valid (no passphrase given: contents not checked)";
  return `${path}: NetHSM backup version ${r.version}, ${r.items} items; ${what}\n`;
}
