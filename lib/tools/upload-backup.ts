/**
 * signstar-upload-backup (ForceCommand of backup_upload users): a NetHSM backup on stdin, bounded in size and
 * time, checked offline (magic, version, field framing, v1 end marker and trailer; no passphrase needed),
 * stored atomically in the uploader's spool (./operator/spool.ts) for signstar-configure, which restores it
 * once the admin secret (it holds the backup passphrase) is available. Prints a one-line JSON receipt.
 */
import type { Readable } from "node:stream";
import type { ConfigLocation } from "../config/load.js";
import { ExitCode, SignstarError } from "../errors.js";
import type { LogSink } from "../log/syslog.js";
import { MAX_BACKUP_BYTES, parseBackup, type BackupFile } from "../nethsm-backup/index.js";
import type { Caller } from "./caller.js";
import { requireRole } from "./operator/context.js";
import { readHead, receiveUpload, takeUploaded, type Uploaded } from "./operator/spool.js";
import { InputError } from "./read-bounded.js";

export const DEFAULT_BACKUP_UPLOAD_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_UPLOAD_TIMEOUT_MS = 10 * 60_000;

export interface UploadBackupInput {
  readonly stdin: Readable;
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  /** Default DEFAULT_BACKUP_UPLOAD_MAX_BYTES, at most MAX_BACKUP_BYTES. */
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Root prefix of /var/lib/signstar (tests); "/" in production. */
  readonly stateRoot?: string;
}

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

export function checkMaxBytes(value: number | undefined, fallback: number, limit: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1 || n > limit) throw new SignstarError(`${what} must be an integer from 1 to ${limit}`, ExitCode.Usage);
  return n;
}

export async function uploadBackup(input: UploadBackupInput): Promise<string> {
  const { caller, log } = input;
  const maxBytes = checkMaxBytes(input.maxBytes, DEFAULT_BACKUP_UPLOAD_MAX_BYTES, MAX_BACKUP_BYTES, "the backup size limit");
  try {
    await requireRole(caller, input.config, ["backup_upload"], "signstar-upload-backup");
    const receipt = await receiveUpload({
      kind: "backup",
      input: input.stdin,
      systemUser: caller.name,
      uid: caller.uid,
      maxBytes,
      timeoutMs: input.timeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS,
      validate: async (file, size) => checkBackupBytes(await readHead(file, size)),
      ...(input.signal ? { signal: input.signal } : {}),
      ...(input.stateRoot !== undefined ? { root: input.stateRoot } : {}),
    });
    await log.write(
      "notice",
      `backup uploaded: user=${caller.name} bytes=${receipt.size} sha256=${receipt.sha256} version=${receipt.info.version} items=${receipt.info.items} outcome=ok`,
    );
    return `${JSON.stringify({ stored: "backup", bytes: receipt.size, sha256: receipt.sha256, version: receipt.info.version, items: receipt.info.items })}\n`;
  } catch (error) {
    const reason = error instanceof SignstarError ? error.message : "internal error";
    await log.write("warning", `backup upload refused: user=${caller.name} outcome=error reason=${reason}`);
    throw error;
  }
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
