/**
 * `signstar-admin validate-backup [--passphrase-file FILE] BACKUP`: offline validation of a NetHSM backup with
 * the backup reader. Without a passphrase: magic, version, framing, end marker (what upload-backup checks).
 * With the backup passphrase: every AES-GCM tag verifies and the inner version equals the outer one.
 * The passphrase file is read verbatim, as Nitrokey's `nethsm system validate-backup` does (a trailing newline
 * is part of the passphrase; the error says so when that is the likely cause).
 */
import { ExitCode, SignstarError } from "../errors.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
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
  let bytes: Buffer;
  try {
    // A file the administrator named on the command line: a symbolic link is followed.
    ({ data: bytes } = await readCheckedFile(path, { what: "the passphrase file", maxBytes: MAX_PASSPHRASE_FILE_BYTES, followSymlinks: true, nonEmpty: true }));
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    const p = e.problem;
    const message =
      p.kind === "open"
        ? `cannot open the passphrase file ${path}: ${p.reason}`
        : p.kind === "type"
          ? `the passphrase file ${path} is not a regular file`
          : `the passphrase file ${path} has ${p.kind === "size" ? p.size : 0} bytes (1 to ${MAX_PASSPHRASE_FILE_BYTES} allowed)`;
    throw new SignstarError(message, ExitCode.Secret, { cause: e });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new SignstarError(`the passphrase file ${path} is not UTF-8`, ExitCode.Secret);
  } finally {
    bytes.fill(0);
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
