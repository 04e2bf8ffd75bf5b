import { ExitCode, SignstarError } from "../errors.js";

/**
 * The log cannot do what was asked: it is corrupt, locked by another writer, closed, or an entry cannot be made
 * durable. Signing fails closed on it (no signature leaves the host without its entry).
 */
export class LogError extends SignstarError {
  constructor(message: string, exitCode: number = ExitCode.Internal, options?: { cause?: unknown }) {
    super(message, exitCode, options);
  }
}

/**
 * Something the log served (a checkpoint, a tile, an entry bundle) or a proof does not verify: a wrong note
 * signature or key, a fork, a dropped or modified entry. Exit code Denied: the caller must not trust the data.
 */
export class LogVerifyError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Denied, options);
  }
}

/** Malformed log data or arguments (an entry, a path, a key line) that are refused before any use. */
export class LogFormatError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BadInput, options);
  }
}
