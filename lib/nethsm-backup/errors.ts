import { ExitCode, SignstarError } from "../errors.js";

/** A NetHSM backup file is malformed, truncated, or does not decrypt. Never carries a passphrase. */
export class BackupError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BadInput, options);
  }
}
