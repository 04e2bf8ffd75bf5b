/**
 * Errors raised by the signing client (`signstar-request-signature`). Each one maps to one exit code of
 * `ExitCode` (lib/errors.ts); the table is in README.md ("Exit codes") and bin/signstar-request-signature.ts.
 *
 *   2 Usage     – wrong options (port, host, user, neither or both of --identity/--agent)
 *   3 BadInput  – the file to sign or the output path is unusable (missing, not a regular file, output exists)
 *   4 Config    – client-side setup is unusable: identity key, known_hosts file, ssh-agent socket
 *   5 Denied    – trust failed: the host key is not trusted by known_hosts, or the host refused our SSH key
 *   8 Remote    – the signing host failed, answered garbage, exited uncleanly, timed out or was unreachable
 */
import { ExitCode, SignstarError } from "../errors.js";
import type { HostKeyVerdict } from "./known-hosts.js";

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

/** The SSH host key presented by the signing host is not trusted. */
export class HostKeyError extends SignstarError {
  readonly verdict: Exclude<HostKeyVerdict, "trusted">;
  constructor(verdict: Exclude<HostKeyVerdict, "trusted">, message: string) {
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
