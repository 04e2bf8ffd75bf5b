/**
 * Runs a system command (useradd, getent, systemd-creds, sshd) with an argv array (no shell), a time limit and
 * bounded output. Input is passed on stdin only, so secrets never appear in argv or the environment.
 */
import { spawn } from "node:child_process";

export interface RunOptions {
  /** Bytes for stdin (the child sees EOF after them). Omitted: stdin is /dev/null. */
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
  /** Maximum bytes kept of stdout and of stderr each; more output kills the child. */
  readonly maxOutput?: number;
  /** Environment of the child; defaults to a minimal one (PATH, LANG=C). */
  readonly env?: NodeJS.ProcessEnv;
  readonly uid?: number;
  readonly gid?: number;
}

export interface RunResult {
  /** Exit status, or null when the child was killed by a signal (then `signal` is set). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  /** True when the child was killed for running longer than timeoutMs or writing more than maxOutput. */
  readonly killed: boolean;
}

export const DEFAULT_ENV: NodeJS.ProcessEnv = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C",
  LC_ALL: "C",
};

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error("run: empty argv"));
  const maxOutput = opts.maxOutput ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: opts.env ?? DEFAULT_ENV,
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let killed = false;
    const kill = (): void => {
      killed = true;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(kill, opts.timeoutMs ?? 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      outLen += chunk.length;
      if (outLen > maxOutput) kill();
      else out.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      errLen += chunk.length;
      if (errLen > maxOutput) kill();
      else err.push(chunk);
    });
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8"), killed });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on("error", () => undefined); // the child may exit without reading; its status tells
      child.stdin.end(opts.input);
    }
  });
}

/** `cmd arg …` for messages: arguments with spaces or quotes are single-quoted. Never pass secrets here. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}
