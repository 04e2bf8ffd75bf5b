/**
 * Typed errors of the signing core. Every message is one line naming the field or file at fault.
 */
import { ExitCode, SignstarError } from "../errors.js";

/** A hasher state, digest or other signing input is malformed (bad input from a client). */
export class SigningInputError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BadInput, options);
  }
}

/** A signing request is malformed, too large or not supported. */
export class RequestError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BadInput, options);
  }
}

/** A signing response (from the remote signing host) is malformed. */
export class ResponseError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Remote, options);
  }
}

/** OpenPGP data (certificate, armor, packet) is malformed or unsupported. */
export class OpenPgpError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BadInput, options);
  }
}

/** A signer failed or returned something that is not a valid raw signature for its key. */
export class SignerError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Backend, options);
  }
}
