/**
 * The audit entries of the tools: one line per event, `<event>: key="value" … outcome="ok|error" [reason="…"]`.
 * Every value is JSON-quoted by logValue (./syslog.ts), so no text a client or uploader chose (a field name in a
 * request, an update image's version, a caller's name) can pose as another field or start another line.
 * withAudit is the one place that writes the success and refusal entry of a tool run.
 */
import { SignstarError } from "../errors.js";
import { AuditLogError, logValue, type LogSink, type Severity } from "./syslog.js";

export type AuditValue = string | number;
export type AuditFields = Readonly<Record<string, AuditValue>>;

/** `<event>: key="value" …` with every value quoted; keys are the tools' own identifiers. */
export function auditLine(event: string, fields: AuditFields): string {
  const parts = Object.entries(fields).map(([key, value]) => `${key}=${logValue(String(value))}`);
  return parts.length === 0 ? event : `${event}: ${parts.join(" ")}`;
}

/** What a tool run's audit entries say. */
export interface AuditEvents {
  readonly log: LogSink;
  /** The entry of a successful run (e.g. "signature issued"); none for tools that log only refusals. */
  readonly success?: { readonly event: string; readonly severity: Severity };
  /** The entry of a refused run (e.g. "signature refused"), severity warning. */
  readonly refusal: string;
  /** Fields known before the run (the caller); more are added with Audit.set. */
  readonly fields: AuditFields;
  /** Runs together with the entry's write (e.g. the signature counters), with the outcome and final fields. */
  readonly alongside?: (outcome: "ok" | "error", fields: AuditFields) => Promise<unknown> | undefined;
}

/** Adds fields as the run learns them (key, digest, backend user, sizes); later values replace earlier ones. */
export interface Audit {
  set(fields: AuditFields): void;
  /** The configuration says `audit_log = "best-effort"`: a lost entry does not undo the run. */
  allowUnaudited(): void;
}

/** The reason of a refusal: the error's own one-line message, or "internal error" for anything unexpected. */
export function refusalReason(error: unknown): string {
  return error instanceof SignstarError ? error.message : "internal error";
}

/**
 * Runs `body` and writes exactly one entry: the success entry with `outcome="ok"` when it returns, the refusal
 * entry with `outcome="error"` and the reason when it throws (the error is rethrown).
 */
export async function withAudit<T>(events: AuditEvents, body: (audit: Audit) => Promise<T>): Promise<T> {
  const fields = new Map<string, AuditValue>(Object.entries(events.fields));
  let unauditedAllowed = false;
  const audit: Audit = {
    set(more) {
      for (const [key, value] of Object.entries(more)) fields.set(key, value);
    },
    allowUnaudited() {
      unauditedAllowed = true;
    },
  };
  let value: T;
  try {
    value = await body(audit);
  } catch (error) {
    const final = { ...Object.fromEntries(fields), outcome: "error", reason: refusalReason(error) };
    // The run failed anyway: its own error is the one line, whether or not the entry was written.
    await Promise.all([events.log.write("warning", auditLine(events.refusal, final)).catch(() => undefined), events.alongside?.("error", final)]);
    throw error;
  }
  const final = { ...Object.fromEntries(fields), outcome: "ok" };
  // The result reaches the caller only after its entry is written (fail closed): the shell prints `value`.
  const written = events.success
    ? events.log.write(events.success.severity, auditLine(events.success.event, final)).catch((error: unknown) => {
        if (error instanceof AuditLogError && unauditedAllowed) return;
        throw error;
      })
    : undefined;
  await Promise.all([written, events.alongside?.("ok", final)]);
  return value;
}
