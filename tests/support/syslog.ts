/**
 * A syslog stand-in for tests: a Unix datagram socket (Node cannot open one, so a tiny python3 receiver does)
 * whose messages are appended to a file. Point SIGNSTAR_LOG_SOCKET at `socket`; or, on a private host, pass
 * `{ host }`: the receiver then runs inside it at the socket its /dev/log leads to, so the tools log exactly
 * as on a production host, without any environment variable.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sanitize, type LogSink, type Severity } from "../../lib/log/syslog.js";
import { JOURNAL_SOCKET, type PrivateHost } from "./private-host.js";

/** Collects entries in memory, sanitized as the system log sink does (in-process tool tests). */
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

const RECEIVER = `
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
with open(out, "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\\n") + b"\\n")
`;

const SOCKET_TIMEOUT_MS = 10_000;

export interface SyslogListener {
  readonly socket: string;
  /** Every message received so far, one per entry. */
  messages(): Promise<string[]>;
  /** Waits until a message matching `pattern` arrived (logger runs asynchronously to the tool's exit). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startSyslog(opts: { readonly host?: PrivateHost } = {}): Promise<SyslogListener> {
  const { host } = opts;
  const dir = host === undefined ? await mkdtemp(join(tmpdir(), "signstar-syslog-")) : host.path("/run/signstar-test-journal");
  if (host !== undefined) {
    await mkdir(dir, { recursive: true });
    await mkdir(host.path("/run/systemd/journal"), { recursive: true });
  }
  await chmod(dir, 0o755); // test users' tools must reach the socket
  const socket = host === undefined ? join(dir, "log.sock") : JOURNAL_SOCKET;
  const seen = (p: string): string => (host === undefined ? p : host.path(p));
  const file = join(dir, "messages");
  const argv = ["python3", "-c", RECEIVER, socket, host === undefined ? file : "/run/signstar-test-journal/messages"] as const;
  const child: ChildProcess =
    host === undefined ? spawn(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] }) : host.spawn(argv, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  let exited: string | undefined;
  let spawnError: Error | undefined;
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  child.on("error", (e) => (spawnError = e));
  child.on("exit", (code, signal) => (exited = signal ?? String(code)));
  // Ready once the socket exists with its final mode (bind, then chmod 0666 for the test users' tools).
  const deadline = Date.now() + SOCKET_TIMEOUT_MS;
  for (;;) {
    const st = await stat(seen(socket)).catch(() => undefined);
    if (st !== undefined && (st.mode & 0o777) === 0o666) break;
    const failure = spawnError
      ? `python3 could not be started: ${spawnError.message}`
      : exited !== undefined
        ? `the receiver (python3) exited (${exited}): ${stderr.trim().split("\n").pop() ?? ""}`
        : Date.now() > deadline
          ? `${socket} did not appear within ${SOCKET_TIMEOUT_MS / 1000} s`
          : undefined;
    if (failure !== undefined) {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
      throw new Error(`syslog stand-in: ${failure}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const messages = async (): Promise<string[]> =>
    (await readFile(file, "utf8").catch(() => "")).split("\n").filter((l) => l.length > 0);
  return {
    socket,
    messages,
    async waitFor(pattern, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = (await messages()).find((m) => pattern.test(m));
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) throw new Error(`no syslog message matched ${pattern}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    },
  };
}
