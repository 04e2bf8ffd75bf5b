/** Errors of the secret-file layer. Messages name the file and the check that failed, never the secret. */
import { ExitCode } from "../errors.js";
import { FileSafetyError } from "../os/errors.js";

/** A secret file is missing, unsafe (type, owner, mode, size) or cannot be created/decrypted. */
export class SecretFileError extends FileSafetyError {
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super(message, path, ExitCode.Secret, options);
  }
}
