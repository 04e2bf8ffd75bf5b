/** Errors of the secret-file layer. Messages name the file and the check that failed, never the secret. */
import { ExitCode, SignstarError } from "../errors.js";

/** A secret file is missing, unsafe (type, owner, mode, size) or cannot be created/decrypted. */
export class SecretFileError extends SignstarError {
  readonly path: string;
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Secret, options);
    this.path = path;
  }
}
