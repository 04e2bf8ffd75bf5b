/**
 * The one place where a bin/ entry turns an outcome into an exit code: a SignstarError prints its one-line
 * message; anything else is an internal error, printed as one line without a stack trace.
 */
import { ExitCode, SignstarError, oneLine } from "../errors.js";

export function describeError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof SignstarError) return { message: error.message, exitCode: error.exitCode };
  const text = error instanceof Error ? error.message : String(error);
  return { message: `internal error: ${oneLine(text)}`, exitCode: ExitCode.Internal };
}

/** Runs a tool's body; prints `<program>: <message>` on stderr and sets the exit code on failure. */
export function runMain(program: string, body: () => Promise<number | void>): void {
  body().then(
    (code) => {
      process.exitCode = code ?? ExitCode.Ok;
    },
    (error: unknown) => {
      const { message, exitCode } = describeError(error);
      process.stderr.write(`${program}: ${message}\n`);
      process.exitCode = exitCode;
    },
  );
}
