import { ExitCode, SignstarError } from "../errors.js";

/** A system command or an account lookup failed; the message names the command or the user. */
export class OsError extends SignstarError {
  constructor(message: string, exitCode: number = ExitCode.Internal, options?: { cause?: unknown }) {
    super(message, exitCode, options);
  }
}

/**
 * A file or directory failed a safety check (type, owner, mode, links, symbolic link) or could not be created,
 * wiped or removed. Such paths hold secrets or root-only state, hence exit code Secret by default.
 */
export class FileSafetyError extends SignstarError {
  readonly path: string;
  constructor(message: string, path: string, exitCode: number = ExitCode.Secret, options?: { cause?: unknown }) {
    super(message, exitCode, options);
    this.path = path;
  }
}
