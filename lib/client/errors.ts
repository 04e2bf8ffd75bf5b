/**
 * Errors raised by the signing client (`signstar-request-signature`). Each one carries one exit code of the
 * table in lib/errors.ts (EXIT_CODES), which says what the codes mean.
 */
import { ExitCode, SignstarError } from "../errors.js";
import { FileReadError } from "../os/read-file.js";

/** Why a presented host key is not trusted (see ./known-hosts.ts). */
export type UntrustedHostKey = "revoked" | "unknown" | "mismatch";

/** Wrong options. */
export class ClientUsageError extends SignstarError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
  }
}

/** The file to sign, or the output path, cannot be used. */
export class ClientInputError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BadInput, options);
  }
}

/** The identity key, the known_hosts file or the agent socket cannot be used. */
export class ClientConfigError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Config, options);
  }
}

/** A failed checked read of one of the client's own files (identity, known_hosts) as a ClientConfigError. */
export function clientFileError(error: unknown): unknown {
  return error instanceof FileReadError ? new ClientConfigError(error.message, { cause: error }) : error;
}

/** The SSH host key presented by the signing host is not trusted. */
export class HostKeyError extends SignstarError {
  readonly verdict: UntrustedHostKey;
  constructor(verdict: UntrustedHostKey, message: string) {
    super(message, ExitCode.Denied);
    this.verdict = verdict;
  }
}

/** The signing host refused every key we offered. */
export class AuthenticationError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Denied, options);
  }
}

/** Transport-level failure: unreachable host, handshake failure, timeout, oversized or unclean answer. */
export class ConnectionError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Remote, options);
  }
}

/**
 * The remote command ran and failed. `remoteExitCode` is its exit status (null when the channel closed without
 * one: "unclean exit"); `remoteMessage` is the first line of its stderr, sanitized (may be empty).
 */
export class RemoteError extends SignstarError {
  readonly remoteExitCode: number | null;
  readonly remoteMessage: string;
  constructor(message: string, remoteExitCode: number | null, remoteMessage: string) {
    super(message, ExitCode.Remote);
    this.remoteExitCode = remoteExitCode;
    this.remoteMessage = remoteMessage;
  }
}

/** The signing host answered, but the answer is not a valid signing response for our request. */
export class InvalidResponseError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Remote, options);
  }
}
