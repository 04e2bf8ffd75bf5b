import { ExitCode, SignstarError } from "../errors.js";

/** Host setup failed: a command (useradd, usermod, getent, sshd) or a file operation, named in the message. */
export class HostError extends SignstarError {
  constructor(message: string, exitCode: number = ExitCode.Internal, options?: { cause?: unknown }) {
    super(message, exitCode, options);
  }
}
