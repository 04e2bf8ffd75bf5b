/**
 * A syslog stand-in for tests: a Unix datagram socket (Node cannot open one, so a tiny python3 receiver does)
 * whose messages are appended to a file. Point SIGNSTAR_LOG_SOCKET at `socket`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

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

export interface SyslogListener {
  readonly socket: string;
  /** Every message received so far, one per entry. */
  messages(): Promise<string[]>;
  /** Waits until a message matching `pattern` arrived (logger runs asynchronously to the tool's exit). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startSyslog(): Promise<SyslogListener> {
  const dir = await mkdtemp(join(tmpdir(), "signstar-syslog-"));
  await chmod(dir, 0o755); // test users' tools must reach the socket
  const socket = join(dir, "log.sock");
  const file = join(dir, "messages");
  const child: ChildProcess = spawn("python3", ["-c", RECEIVER, socket, file], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    if (await stat(socket).then(() => true, () => false)) break;
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
