/**
 * What signstar-upload-backup and signstar-upload-update share: the caller must hold the upload role; the
 * upload streams into the caller's spool (./operator/spool.ts), bounded in size and time and validated; the
 * outcome is logged, and the receipt is one line of JSON.
 */
import type { FileHandle } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { ConfigLocation } from "../config/load.js";
import type { Role } from "../config/model.js";
import { ExitCode, SignstarError } from "../errors.js";
import { withAudit, type AuditFields } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import type { Caller } from "../caller/caller.js";
import { requireRole } from "../caller/role.js";
import { receiveUpload, type UploadKind } from "./operator/spool.js";

export const DEFAULT_UPLOAD_TIMEOUT_MS = 10 * 60_000;

export interface SpooledUploadInput {
  readonly stdin: Readable;
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  /** Default: the kind's default; at most the kind's limit. */
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Root prefix of /var/lib/signstar (tests); "/" in production. */
  readonly stateRoot?: string;
}

export interface SpooledUploadKind<T> {
  readonly kind: UploadKind;
  readonly role: Role;
  readonly program: string;
  readonly defaultMaxBytes: number;
  readonly limit: number;
  /** Names the bound in its error ("the backup size limit"). */
  readonly limitName: string;
  /** Checks the complete temporary file; throws InputError to reject it. */
  readonly validate: (file: FileHandle, size: number) => Promise<T>;
  /** What the audit entry says about the upload after bytes and sha256 (version, items). */
  readonly logFields: (info: T) => AuditFields;
  /** What the receipt says after stored, bytes and sha256. */
  readonly receiptFields: (info: T) => Record<string, unknown>;
}

export function checkMaxBytes(value: number | undefined, fallback: number, limit: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1 || n > limit) throw new SignstarError(`${what} must be an integer from 1 to ${limit}`, ExitCode.Usage);
  return n;
}

export async function spooledUpload<T>(input: SpooledUploadInput, spec: SpooledUploadKind<T>): Promise<string> {
  const { caller, log } = input;
  const { kind } = spec;
  const maxBytes = checkMaxBytes(input.maxBytes, spec.defaultMaxBytes, spec.limit, spec.limitName);
  const events = { log, success: { event: `${kind} uploaded`, severity: "notice" as const }, refusal: `${kind} upload refused`, fields: { user: caller.name } };
  return withAudit(events, async (audit) => {
    await requireRole(caller, input.config, [spec.role], spec.program);
    const receipt = await receiveUpload({
      kind,
      input: input.stdin,
      systemUser: caller.name,
      uid: caller.uid,
      maxBytes,
      timeoutMs: input.timeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS,
      validate: spec.validate,
      ...(input.signal ? { signal: input.signal } : {}),
      ...(input.stateRoot !== undefined ? { root: input.stateRoot } : {}),
    });
    audit.set({ bytes: receipt.size, sha256: receipt.sha256, ...spec.logFields(receipt.info) });
    return `${JSON.stringify({ stored: kind, bytes: receipt.size, sha256: receipt.sha256, ...spec.receiptFields(receipt.info) })}\n`;
  });
}
