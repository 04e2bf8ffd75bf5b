/**
 * The one place where a bin/ entry turns an outcome into an exit code: a SignstarError prints its one-line
 * message; anything else is an internal error, printed as one line without a stack trace.
 *
 * A client that disconnects (the SSH session goes away while we write or read) makes stdout/stdin emit EPIPE or
 * ECONNRESET: without a listener Node would print "Unhandled 'error' event" with a stack trace. runMain listens on
 * stdin, stdout and stderr, prints one line (if stderr still works) and exits with ExitCode.Remote (8).
 */
import { ExitCode, SignstarError, oneLine } from "../errors.js";

const VANISHED = new Set(["EPIPE", "ECONNRESET", "ENOTCONN", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END"]);

export function describeError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof SignstarError) return { message: error.message, exitCode: error.exitCode };
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && VANISHED.has(code)) return { message: `the client went away (${code})`, exitCode: ExitCode.Remote };
  const text = error instanceof Error ? error.message : String(error);
  return { message: `internal error: ${oneLine(text)}`, exitCode: ExitCode.Internal };
}

let vanished = false;
let reported = false;

function report(program: string, message: string): void {
  if (reported) return;
  reported = true;
  try {
    process.stderr.write(`${program}: ${message}\n`);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}

/** One line instead of an unhandled 'error' event when the client vanished (stdin/stdout/stderr errors). */
export function guardStdio(program: string): void {
  process.stderr.on("error", () => {
    vanished = true;
    process.exitCode = ExitCode.Remote;
  });
  for (const [name, stream] of [
    ["stdout", process.stdout],
    ["stdin", process.stdin],
  ] as const) {
    stream.on("error", (error: Error) => {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      if (VANISHED.has(code)) {
        vanished = true;
        report(program, `the client went away (${code} on ${name})`);
        process.exitCode = ExitCode.Remote;
      } else {
        report(program, `cannot use ${name}: ${code}`);
        process.exitCode = ExitCode.Internal;
      }
    });
  }
}

/** Runs a tool's body; prints `<program>: <message>` on stderr and sets the exit code on failure. */
export function runMain(program: string, body: () => Promise<number | void>): void {
  guardStdio(program);
  body().then(
    (code) => {
      process.exitCode = vanished ? ExitCode.Remote : (code ?? ExitCode.Ok);
    },
    (error: unknown) => {
      const { message, exitCode } = describeError(error);
      report(program, message);
      process.exitCode = vanished ? ExitCode.Remote : exitCode;
    },
  );
}
