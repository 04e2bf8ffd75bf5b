import { ExitCode, SignstarError } from "../errors.js";

/** A command-line usage mistake, reported with the synopsis. */
export function usageError(cause: unknown, synopsis: string): SignstarError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SignstarError(`${detail}; usage: ${synopsis}`, ExitCode.Usage);
}
