/**
 * Writes entries to the system log (journald or syslog through /dev/log) with util-linux `logger`.
 * Node cannot open Unix datagram sockets, so a short-lived `logger` child is the lean way to reach syslog;
 * it costs a few milliseconds, far less than the SSH session around it. Entries never reach the SSH client.
 *
 * One `logger` per entry; the entry's priority travels in front of the line (`--prio-prefix`, `<PRI>`), so
 * the child can be started before the entry is known. With `early: true` the child of the first entry starts
 * when the sink is created: its exec and dynamic linking then overlap the tool's own work, and the first
 * `write` only hands over the line and waits until `logger` has sent it and exited. A sink that never writes
 * leaves nothing behind: the idle child does not keep the process alive and exits on end of input, logging
 * nothing.
 *
 * `SIGNSTAR_LOG_SOCKET` names another datagram socket (tests point it at their own listener; sshd's `SetEnv`
 * can set it per user). Unprivileged callers cannot set it through sshd: user environments are off.
 */
import { spawn } from "node:child_process";
import type { Writable } from "node:stream";
import { ExitCode, SignstarError } from "../errors.js";

/**
 * The system log did not take an entry (no /dev/log, a full or dead journald, logger missing or timed out).
 * A signing enclave must not sign unaudited by accident: ./audit.ts turns this into a refusal unless the
 * configuration opts out (`[system] audit_log = "best-effort"`).
 */
export class AuditLogError extends SignstarError {
  constructor(detail: string) {
    super(`the audit entry could not be written to the system log (${detail}); nothing was done`, ExitCode.Audit);
  }
}

const LOGGER = "/usr/bin/logger";

export type Severity = "err" | "warning" | "notice" | "info";

export interface LogSink {
  write(severity: Severity, message: string): Promise<void>;
}

export interface SyslogSinkOptions {
  /** Start the `logger` of the first entry now, in parallel with the caller's work (see the module comment). */
  readonly early?: boolean;
}

/** syslog facility `auth` (4) and the levels of RFC 5424: PRI = facility * 8 + level. */
const AUTH = 4;
const LEVELS: Readonly<Record<Severity, number>> = { err: 3, warning: 4, notice: 5, info: 6 };

/**
 * Characters that could forge a second syslog line or confuse parsers (C0, DEL, C1, Unicode line breaks) become
 * spaces; an entry is at most 4000 characters. Every sink applies it to every entry.
 */
export function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").slice(0, 4000);
}

/**
 * A free-text value for a `key=value` log field, JSON-quoted so that text a client chose (e.g. a field name in
 * its request) can never look like further fields: `reason=${logValue(message)}`.
 */
export function logValue(text: string): string {
  return JSON.stringify(sanitize(text));
}

type RefCounted = Writable & { ref?: () => void; unref?: () => void };

/** A started `logger` waiting for its one line. */
interface PendingLogger {
  /** Sends the line and resolves once `logger` exited 0; rejects with AuditLogError otherwise. */
  send(line: string, timeoutMs: number): Promise<void>;
}

function startLogger(tag: string, socket: string | undefined, idle: boolean): PendingLogger {
  // --socket-errors=on: logger's exit status says whether the socket took the entry (util-linux logger(1)).
  const args = ["--socket-errors=on", "--prio-prefix", "-t", tag, "-p", `auth.notice`];
  if (socket) args.push("-u", socket);
  // The message travels on stdin, never in argv; the child gets no environment of ours.
  const child = spawn(LOGGER, args, { stdio: ["pipe", "ignore", "ignore"], env: {} });
  const stdin = child.stdin as RefCounted;
  const exited = new Promise<string | undefined>((resolve) => {
    child.on("error", (e) => resolve(`${LOGGER}: ${e.message}`));
    child.on("close", (code, signal) => resolve(code === 0 ? undefined : signal !== null ? `logger stopped by ${signal}` : `logger exited with status ${String(code)}${socket ? ` for ${socket}` : " for /dev/log"}`));
  });
  stdin.on("error", () => undefined);
  if (idle) {
    // Waiting for a line must not keep the process alive (a tool that fails before logging just exits).
    child.unref();
    stdin.unref?.();
  }
  return {
    send(line, timeoutMs) {
      child.ref();
      stdin.ref?.();
      const timer = setTimeout(() => child.kill(), timeoutMs);
      stdin.end(line);
      return exited.then((failure) => {
        clearTimeout(timer);
        if (failure !== undefined) throw new AuditLogError(failure);
      });
    },
  };
}

export function syslogSink(tag: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 2000, options: SyslogSinkOptions = {}): LogSink {
  const socket = env.SIGNSTAR_LOG_SOCKET;
  let early = options.early ? startLogger(tag, socket, true) : undefined;
  return {
    write(severity, message) {
      const logger = early ?? startLogger(tag, socket, false);
      early = undefined;
      return logger.send(`<${AUTH * 8 + LEVELS[severity]}>${sanitize(message)}\n`, timeoutMs);
    },
  };
}
