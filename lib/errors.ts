/**
 * Base of every error the library raises on purpose. `message` is always one human-readable line that names
 * the thing at fault (file, field, user, key, token) and never a secret. `exitCode` is what a bin/ shell
 * exits with; the table lives in README.md ("Exit codes").
 */
export class SignstarError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(oneLine(message), options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Exit codes shared by every executable (documented in README.md). */
export const ExitCode = {
  Ok: 0,
  /** Unexpected internal failure. */
  Internal: 1,
  /** Wrong command-line usage. */
  Usage: 2,
  /** The input (request, upload, share) is malformed or too large. */
  BadInput: 3,
  /** The configuration is missing or invalid. */
  Config: 4,
  /** The calling user is not allowed to do this (root, unmapped user, wrong role). */
  Denied: 5,
  /** A secret file is missing or fails its owner/mode/type checks. */
  Secret: 6,
  /** The HSM backend refused or failed (authentication, key, mechanism, connection, timeout). */
  Backend: 7,
  /** A remote peer (SSH server, signing host) failed or answered something invalid. */
  Remote: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The input (a request, an upload, a share on stdin) is malformed, too large or arrived too slowly. */
export class InputError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BadInput, options);
  }
}

/** Collapse whitespace so every error is exactly one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}
