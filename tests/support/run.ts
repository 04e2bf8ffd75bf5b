/**
 * Runs a process to completion and collects its exit code, signal, stdout and stderr: the one helper behind
 * the tests' command runners (executables in dist/, ssh, setpriv, verifiers).
 */
import { spawn } from "node:child_process";

export interface RunOptions {
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  readonly input?: string | Uint8Array;
  readonly env?: NodeJS.ProcessEnv;
  /** Real uid/gid of the child (needs root). */
  readonly uid?: number;
  readonly gid?: number;
  /** SIGKILL after this long. */
  readonly timeoutMs?: number;
}

/** Exit code and output; `code` is null when a signal ended the process. */
export interface RunResult<Out = string> {
  readonly code: number | null;
  readonly stdout: Out;
  readonly stderr: string;
}

/** RunResult with the signal that ended the process (or null). */
export interface SignalledResult extends RunResult {
  readonly signal: NodeJS.Signals | null;
}

/** Runs to the end; rejects only if the process cannot start. */
function collect(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult<Buffer> & { readonly signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    // stdout and stderr are pipes (stdio above), so they exist.
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8") });
    });
    if (child.stdin) {
      child.stdin.on("error", () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** stdout as bytes (backups, update images); stderr as UTF-8. */
export async function runBytes(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult<Buffer>> {
  const { code, stdout, stderr } = await collect(cmd, args, opts);
  return { code, stdout, stderr };
}

/** stdout and stderr as UTF-8. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const { code, stdout, stderr } = await collect(cmd, args, opts);
  return { code, stdout: stdout.toString("utf8"), stderr };
}

/** Like run(), with the signal that ended the process. */
export async function runSignalled(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<SignalledResult> {
  const r = await collect(cmd, args, opts);
  return { ...r, stdout: r.stdout.toString("utf8") };
}

/** Only the exit code (-1 when killed by a signal); output goes nowhere. */
export function exitCodeOf(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: "ignore", env });
    child.on("close", (code) => resolve(code ?? -1));
  });
}
