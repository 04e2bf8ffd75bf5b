/**
 * The one reader for files whose content a security decision depends on (secret files, the configuration, the
 * share set, signature counters, backups, the client's identity and known_hosts), so that the checks are
 * written and audited in one place:
 *
 * - opened with O_NOFOLLOW (a final symbolic link is refused; `followSymlinks` only for paths the calling user
 *   chose for itself, such as the client's own files), O_NONBLOCK (a FIFO cannot stall the open) and O_NOCTTY;
 * - every check on the open descriptor (fstat), never on the path: regular file, owner, permission bits, link
 *   count, size, so nothing can be swapped between check and read;
 * - never more than `maxBytes + 1` bytes are read, so a file that grows after the fstat is still refused.
 *
 * Failures are FileReadError with a structured `problem`; its message is a generic one-liner naming `what` and
 * the path. Layers with their own established wording (secret files, the configuration) phrase the problem
 * themselves.
 */
import { constants, type Stats } from "node:fs";
import { open, readlink, realpath, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { ExitCode, SignstarError } from "../errors.js";
import { describeErrno, errnoCode, octal } from "./errno.js";

export interface CheckedReadOptions {
  /** Names the file in messages ("secret file", "identity file"). */
  readonly what: string;
  /** Largest content accepted. */
  readonly maxBytes: number;
  /** Follow a final symbolic link (default: refused with ELOOP). */
  readonly followSymlinks?: boolean;
  /** The uid that must own the file. */
  readonly owner?: number;
  /** Exact permission bits required (e.g. 0o600). */
  readonly mode?: number;
  /** Permission bits that must all be clear (e.g. 0o022: nobody but the owner may write). */
  readonly clearBits?: number;
  /** Refuse a file with more than one hard link. */
  readonly singleLink?: boolean;
  /** Refuse an empty file. */
  readonly nonEmpty?: boolean;
  /**
   * The path the open descriptor must have (its /proc/self/fd link): no symbolic link anywhere on the way, not
   * only the final one (O_NOFOLLOW). For paths below a directory the caller trusts (the signing log's files).
   */
  readonly realPath?: string;
  /** Exit code of the FileReadError (default Config: a file the setup provides is unusable). */
  readonly exitCode?: number;
}

/** What was wrong with the file; `open` carries the errno code of the failed open (ENOENT, ELOOP, EACCES …). */
export type FileProblem =
  | { readonly kind: "open"; readonly code: string | undefined; readonly reason: string }
  | { readonly kind: "type"; readonly type: string }
  | { readonly kind: "owner"; readonly uid: number; readonly expected: number }
  | { readonly kind: "mode"; readonly mode: number; readonly expected: number }
  | { readonly kind: "writable"; readonly mode: number; readonly clearBits: number }
  | { readonly kind: "links"; readonly links: number }
  | { readonly kind: "empty" }
  | { readonly kind: "size"; readonly size: number; readonly max: number; readonly whileReading: boolean }
  | { readonly kind: "path"; readonly actual: string };

export class FileReadError extends SignstarError {
  readonly path: string;
  readonly problem: FileProblem;
  constructor(what: string, path: string, problem: FileProblem, exitCode: number = ExitCode.Config, options?: { cause?: unknown }) {
    super(describeFileProblem(what, path, problem), exitCode, options);
    this.path = path;
    this.problem = problem;
  }
}

/** The generic message of a problem: `<what> <path> <what is wrong>`. */
export function describeFileProblem(what: string, path: string, p: FileProblem): string {
  switch (p.kind) {
    case "open":
      return `${what} ${path} cannot be opened: ${p.reason}`;
    case "type":
      return `${what} ${path} is not a regular file (${p.type})`;
    case "owner":
      return `${what} ${path} is owned by uid ${p.uid}, but must be owned by uid ${p.expected}`;
    case "mode":
      return `${what} ${path} has mode ${octal(p.mode)}, but ${octal(p.expected)} is required`;
    case "writable":
      return `${what} ${path} has mode ${octal(p.mode)}, but must not be writable by anyone but its owner`;
    case "links":
      return `${what} ${path} has ${p.links} links, but exactly one is required`;
    case "empty":
      return `${what} ${path} is empty`;
    case "size":
      return `${what} ${path} is larger than ${p.max} bytes`;
    case "path":
      return `${what} ${path} is reached through a symbolic link (it is ${p.actual})`;
  }
}

/** "a directory", "a FIFO" … for a non-regular file. */
export function describeFileType(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

export interface CheckedFile {
  readonly data: Buffer;
  /** The fstat of the descriptor the data was read from. */
  readonly stat: Stats;
}

/** Opens, checks and reads a file (see the module comment). */
export async function readCheckedFile(path: string, opts: CheckedReadOptions): Promise<CheckedFile> {
  const fail = (problem: FileProblem, cause?: unknown): FileReadError =>
    new FileReadError(opts.what, path, problem, opts.exitCode, cause !== undefined ? { cause } : undefined);
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (opts.followSymlinks ? 0 : constants.O_NOFOLLOW);
  let handle;
  try {
    handle = await open(path, flags);
  } catch (error) {
    throw fail({ kind: "open", code: errnoCode(error), reason: describeErrno(error) }, error);
  }
  try {
    if (opts.realPath !== undefined) {
      const actual = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => "(unknown: /proc/self/fd cannot be read)");
      if (actual !== opts.realPath) throw fail({ kind: "path", actual });
    }
    const st = await handle.stat();
    if (!st.isFile()) throw fail({ kind: "type", type: describeFileType(st) });
    if (opts.owner !== undefined && st.uid !== opts.owner) throw fail({ kind: "owner", uid: st.uid, expected: opts.owner });
    if (opts.singleLink && st.nlink !== 1) throw fail({ kind: "links", links: st.nlink });
    if (opts.mode !== undefined && (st.mode & 0o7777) !== opts.mode) throw fail({ kind: "mode", mode: st.mode & 0o7777, expected: opts.mode });
    if (opts.clearBits !== undefined && (st.mode & opts.clearBits) !== 0) {
      throw fail({ kind: "writable", mode: st.mode & 0o7777, clearBits: opts.clearBits });
    }
    if (opts.nonEmpty && st.size === 0) throw fail({ kind: "empty" });
    if (st.size > opts.maxBytes) throw fail({ kind: "size", size: st.size, max: opts.maxBytes, whileReading: false });
    const buffer = Buffer.alloc(opts.maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > opts.maxBytes) {
        buffer.fill(0);
        throw fail({ kind: "size", size: length, max: opts.maxBytes, whileReading: true });
      }
    }
    if (opts.nonEmpty && length === 0) throw fail({ kind: "empty" });
    return { data: buffer.subarray(0, length), stat: st };
  } finally {
    await handle.close();
  }
}

/**
 * Like sshd's StrictModes for files root loads code or configuration from: every directory from `/` down to the
 * file's real location must be owned by root and writable by nobody else, except a root-owned sticky directory
 * (/tmp: others cannot rename or remove what root put there). Throws FileReadError naming the first bad directory.
 * The file itself is checked on its descriptor (readCheckedFile with owner 0 and clearBits 0o022).
 */
export async function checkRootControlledDirs(path: string, what: string, exitCode: number = ExitCode.Config): Promise<void> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (error) {
    throw new FileReadError(what, path, { kind: "open", code: errnoCode(error), reason: describeErrno(error) }, exitCode, { cause: error });
  }
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const st = await stat(dir);
    const sticky = (st.mode & 0o1000) !== 0;
    if (st.uid !== 0) throw new TrustError(what, path, `its directory ${dir} is owned by uid ${st.uid}, not root`, exitCode);
    if ((st.mode & 0o022) !== 0 && !sticky) throw new TrustError(what, path, `its directory ${dir} has mode ${octal(st.mode & 0o7777)}: writable by group or others`, exitCode);
    if (dir === "/") break;
  }
}

/** A file root would trust sits where someone else could replace it. */
export class TrustError extends SignstarError {
  constructor(what: string, path: string, why: string, exitCode: number) {
    super(`refusing ${what} ${path}: ${why}`, exitCode);
  }
}
