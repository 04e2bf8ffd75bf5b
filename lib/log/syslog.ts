/**
 * Writes entries to the system log (journald or syslog through /dev/log) with util-linux `logger`.
 * Node cannot open Unix datagram sockets, so a short-lived `logger` child is the lean way to reach syslog;
 * it costs a few milliseconds, far less than the SSH session around it. Entries never reach the SSH client.
 *
 * `SIGNSTAR_LOG_SOCKET` names another datagram socket (tests point it at their own listener; sshd's `SetEnv`
 * can set it per user). Unprivileged callers cannot set it through sshd: user environments are off.
 */
import { spawn } from "node:child_process";

const LOGGER = "/usr/bin/logger";

export type Severity = "err" | "warning" | "notice" | "info";

export interface LogSink {
  write(severity: Severity, message: string): Promise<void>;
}

/** Characters that could forge a second syslog line or confuse parsers become spaces. */
function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, " ").slice(0, 4000);
}

export function syslogSink(tag: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 2000): LogSink {
  const socket = env.SIGNSTAR_LOG_SOCKET;
  return {
    write(severity, message) {
      const args = ["--socket-errors=off", "-t", tag, "-p", `auth.${severity}`];
      if (socket) args.push("-u", socket);
      return new Promise<void>((resolve) => {
        // The message travels on stdin, never in argv; the child gets no environment of ours.
        const child = spawn(LOGGER, args, { stdio: ["pipe", "ignore", "ignore"], env: {}, timeout: timeoutMs });
        child.on("error", () => resolve()); // A missing logger must not break signing; sshd still logs the session.
        child.on("close", () => resolve());
        child.stdin.on("error", () => undefined);
        child.stdin.end(sanitize(message) + "\n");
      });
    },
  };
}

/** Collects entries in memory (in-process callers such as the demo and tests). */
export function memorySink(): LogSink & { entries: { severity: Severity; message: string }[] } {
  const entries: { severity: Severity; message: string }[] = [];
  return {
    entries,
    write(severity, message) {
      entries.push({ severity, message: sanitize(message) });
      return Promise.resolve();
    },
  };
}
