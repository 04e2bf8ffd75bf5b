/**
 * The exit-code contract of every executable, and the error base class that carries it. EXIT_CODES is the one
 * table of exit codes: the executables' command tables (lib/cli/commands) name the codes they can return from
 * it, and --help, the documentation and the man pages are rendered from it.
 */

/** Every exit code with its one-line meaning. */
export const EXIT_CODES = {
  Ok: { code: 0, description: "success" },
  Internal: { code: 1, description: "internal error (a bug: please report it)" },
  Usage: { code: 2, description: "wrong command-line usage (unknown or missing options, arguments or command)" },
  BadInput: { code: 3, description: "bad input: a malformed, oversized or incomplete request, upload, share or file" },
  Config: { code: 4, description: "the configuration is missing or invalid (client: identity, known_hosts or agent setup)" },
  Denied: {
    code: 5,
    description:
      "denied: root, a user without the needed mapping, not root where root is needed (client: host key unknown, changed or revoked, or our key refused)",
  },
  Secret: { code: 6, description: "a secret file is missing or fails its owner, mode or type checks" },
  Backend: {
    code: 7,
    description: "the HSM backend refused or failed (wrong PIN or passphrase, key or token not found, mechanism unsupported, timeout, connection)",
  },
  Remote: { code: 8, description: "a remote peer failed: the signing host (client), or the SSH client went away (host)" },
  Busy: {
    code: 9,
    description: "busy, try again: the user's limit of concurrent and queued signing requests is reached, or its resident signer stopped before answering",
  },
  Audit: {
    code: 10,
    description: "the audit entry could not be written to the system log (e.g. no /dev/log): nothing was signed or served ([system] audit_log = \"best-effort\" allows it)",
  },
  NotFound: {
    code: 11,
    description: "not found: the file asked for does not exist (yet), e.g. a signing log tile or entry bundle beyond the log's current size",
  },
  Interrupted: { code: 130, description: "interrupted (SIGINT, Ctrl-C)" },
} as const;

export type ExitCodeName = keyof typeof EXIT_CODES;

function codes<T extends Record<string, { readonly code: number }>>(table: T): { readonly [K in keyof T]: T[K]["code"] } {
  return Object.fromEntries(Object.entries(table).map(([name, entry]) => [name, entry.code])) as { readonly [K in keyof T]: T[K]["code"] };
}

/** The exit codes by name (`ExitCode.Usage` is 2), from EXIT_CODES. */
export const ExitCode = codes(EXIT_CODES);
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Base of every error the library raises on purpose. `message` is always one human-readable line that names
 * the thing at fault (file, field, user, key, token) and never a secret. `exitCode` is what the executable exits
 * with (EXIT_CODES).
 */
export class SignstarError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = ExitCode.Internal, options?: { cause?: unknown }) {
    super(oneLine(message), options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** The input (a request, an upload, a share on stdin) is malformed, too large or arrived too slowly. */
export class InputError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BadInput, options);
  }
}

/** A command-line usage mistake; the message ends with the synopsis (`…; usage: <synopsis>`). */
export class UsageError extends SignstarError {
  constructor(detail: string, synopsis?: string) {
    super(synopsis === undefined ? detail : `${detail}; usage: ${synopsis}`, ExitCode.Usage);
  }
}

/**
 * The one sanitiser of every message that reaches stderr (every SignstarError passes through it): line breaks
 * (CR, LF, U+0085 NEL, U+2028, U+2029) collapse to one space so an error is exactly one line, and every other
 * control character (C0, DEL, C1) and bidirectional override is shown escaped (`\x1b`, `\u202e`), so text from a
 * file name, a request or a remote host cannot move the cursor, rewrite the terminal or reorder what root reads.
 */
export function oneLine(text: string): string {
  return text
    .replace(/\s*[\r\n\u0085\u2028\u2029]+\s*/g, " ")
    .trim()
    .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => {
      if (c === "\t") return " ";
      const n = c.charCodeAt(0);
      return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
    });
}

/** Errors of a stream whose peer went away (the SSH client, a forwarder). */
export const VANISHED: ReadonlySet<string> = new Set(["EPIPE", "ECONNRESET", "ENOTCONN", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END"]);

/**
 * The one mapping from an outcome to an exit code and a one-line message (the tool shell, a resident signer's
 * answer): a SignstarError is its own message and code; anything else is an internal error, one line, no stack.
 */
export function describeError(error: unknown, interrupted = false): { message: string; exitCode: number } {
  if (error instanceof SignstarError) return { message: error.message, exitCode: error.exitCode };
  if (interrupted && error instanceof Error && error.name === "AbortError") return { message: "interrupted", exitCode: ExitCode.Interrupted };
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && VANISHED.has(code)) return { message: `the client went away (${code})`, exitCode: ExitCode.Remote };
  const text = error instanceof Error ? error.message : String(error);
  return { message: `internal error: ${oneLine(text)}`, exitCode: ExitCode.Internal };
}

/** Short reason for a failed file-system call, without the path (the caller names it). */
export function describeErrno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a parent is not a directory";
    case "ELOOP":
      return "too many symbolic links";
    default:
      return code ?? "unexpected error";
  }
}
