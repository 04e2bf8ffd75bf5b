/**
 * `signstar-request-signature verify-log`: proves that a signature the host issued is in the host's signing log
 * (docs/tlog.md), fetching the log's files from its `log_reader` over SSH (the host key checked against
 * known_hosts, as for `send`) and checking everything offline with checkSignatureInLog (./log-check.ts): the
 * checkpoint's note signature by the given verifier key, consistency with the last checkpoint this client saw of
 * that host and origin (a fork or rollback is refused), the entry's inclusion proof, the entry's packet hash, and
 * the file's SHA-512 when the file is given.
 *
 * Fetching: one exec channel per file (the path is the SSH command the log_reader's ForceCommand parses), at most
 * `parallel` at once on one connection, at most MAX_LOG_FETCHES files per run, each at most MAX_LOG_FILE_BYTES;
 * every file is fetched once (cached), even when two proofs need the same tile.
 *
 * Last seen checkpoints: one directory per host (`<state>/signstar/log-checkpoints/<host or [host]:port>/`, 0700,
 * like known_hosts keyed by the host), one file per origin, replaced atomically once a check passed.
 */
import { join } from "node:path";
import { ExitCode } from "../errors.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { dearmor } from "../signing/openpgp/armor.js";
import { hashFile } from "../signing/file-hasher.js";
import { LogVerifyError } from "../tlog/errors.js";
import { MAX_LOG_FILE_BYTES } from "../tlog/reader.js";
import { parseLogPath, type LogFetch } from "../tlog/tiles.js";
import { ClientConfigError, ClientInputError, ClientUsageError, RemoteError } from "./errors.js";
import { knownHostName } from "./known-hosts.js";
import { checkSignatureInLog, logNotationOf, type LogCheckResult } from "./log-check.js";
import { checkedConnection, parallelOf, validate, type ConnectionOptions } from "./request-signature.js";
import { openSshSession, type SshSession } from "./ssh-transport.js";

/** The log_reader's exit code for a well-formed path the log does not hold (yet): EXIT_CODES.NotFound. */
const REMOTE_NOT_FOUND = ExitCode.NotFound;
/** Most files one verification fetches: a proof needs a few tiles per level (the tree has at most 8 tile levels). */
export const MAX_LOG_FETCHES = 256;
/** The largest signature file read (one signature packet, armored or not). */
export const MAX_SIGNATURE_FILE_BYTES = 64 * 1024;
/** The largest verifier key file read (one line). */
const MAX_KEY_FILE_BYTES = 4096;

export interface VerifyLogOptions extends ConnectionOptions {
  readonly knownHostsPath: string;
  /** The log's verifier key line (`<origin>+<key id>+<key>`); exactly one of this and `logKeyFile`. */
  readonly logKey?: string;
  /** A file holding the verifier key line (e.g. the host's log.vkey). */
  readonly logKeyFile?: string;
  /** The signature file (binary `.sig` or armored `.asc`). */
  readonly signature: string;
  /** The signed file: its SHA-512 must be the entry's digest. */
  readonly file?: string;
  /** Where last seen checkpoints are kept (default `$XDG_STATE_HOME/signstar/log-checkpoints`, else `~/.local/state/…`). */
  readonly checkpointsDir?: string;
  /** Files fetched at once (exec channels on the one connection). */
  readonly parallel?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
}

export interface VerifyLogResult extends LogCheckResult {
  /** Files fetched from the log_reader. */
  readonly fetched: number;
}

/** The base of the last-seen checkpoints: `$XDG_STATE_HOME/signstar/log-checkpoints`, else `$HOME/.local/state/…`. */
export function defaultCheckpointsDir(env: NodeJS.ProcessEnv): string {
  const xdg = env["XDG_STATE_HOME"];
  if (xdg !== undefined && xdg.startsWith("/")) return join(xdg, "signstar", "log-checkpoints");
  const home = env["HOME"];
  if (home !== undefined && home.startsWith("/")) return join(home, ".local", "state", "signstar", "log-checkpoints");
  throw new ClientUsageError("neither XDG_STATE_HOME nor HOME is set: give --checkpoints-dir DIR");
}

/**
 * A LogFetch over one SSH session to a log_reader: one exec per file with the path as the command, `parallel` at
 * once, each path fetched once, at most MAX_LOG_FETCHES files. The reader's NotFound is "no such file" (undefined).
 */
export function sshLogFetch(session: SshSession, parallel: number): { fetch: LogFetch; count: () => number } {
  const cache = new Map<string, Promise<Uint8Array | undefined>>();
  let running = 0;
  const waiting: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    if (running < parallel) {
      running++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  const fetchOne = async (path: string): Promise<Uint8Array | undefined> => {
    await slot();
    try {
      return new Uint8Array((await session.exec(new Uint8Array(), path)).stdout);
    } catch (error) {
      if (error instanceof RemoteError && error.remoteExitCode === REMOTE_NOT_FOUND) return undefined;
      throw error;
    } finally {
      release();
    }
  };
  const fetch: LogFetch = (path) => {
    try {
      parseLogPath(path); // only paths of the one grammar ever become an SSH command
    } catch (error) {
      return Promise.reject(error);
    }
    let hit = cache.get(path);
    if (hit === undefined) {
      if (cache.size >= MAX_LOG_FETCHES) return Promise.reject(new LogVerifyError(`the check needs more than ${MAX_LOG_FETCHES} log files; refusing`));
      hit = fetchOne(path);
      cache.set(path, hit);
    }
    return hit;
  };
  return { fetch, count: () => cache.size };
}

async function readVerifierKey(opts: VerifyLogOptions): Promise<string> {
  if ((opts.logKey !== undefined) === (opts.logKeyFile !== undefined)) throw new ClientUsageError("use exactly one of --log-key and --log-key-file");
  if (opts.logKey !== undefined) return opts.logKey.trim();
  try {
    const { data } = await readCheckedFile(opts.logKeyFile!, { what: "verifier key file", maxBytes: MAX_KEY_FILE_BYTES, followSymlinks: true, nonEmpty: true });
    return data.toString("utf8").split("\n")[0]!.trim();
  } catch (error) {
    throw error instanceof FileReadError ? new ClientConfigError(error.message, { cause: error }) : error;
  }
}

/** The signature packet of a `.sig` (binary) or `.asc` (armored) file. */
async function readSignature(path: string): Promise<Uint8Array> {
  let data: Buffer;
  try {
    data = (await readCheckedFile(path, { what: "signature file", maxBytes: MAX_SIGNATURE_FILE_BYTES, followSymlinks: true, nonEmpty: true, exitCode: ExitCode.BadInput })).data;
  } catch (error) {
    throw error instanceof FileReadError ? new ClientInputError(error.message, { cause: error }) : error;
  }
  const text = data.toString("latin1");
  if (/^\s*-----BEGIN PGP /.test(text)) {
    try {
      return dearmor(text).data;
    } catch (error) {
      throw new ClientInputError(`signature file ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  return new Uint8Array(data);
}

export async function verifySignatureInLog(opts: VerifyLogOptions): Promise<VerifyLogResult> {
  const { port } = validate(opts);
  const parallel = parallelOf(opts);
  const env = opts.env ?? process.env;
  const checkpointsBase = opts.checkpointsDir ?? defaultCheckpointsDir(env);
  // Local inputs first: nothing is fetched while any of them is unusable.
  const verifierKey = await readVerifierKey(opts);
  const signature = await readSignature(opts.signature);
  try {
    logNotationOf(signature);
  } catch (error) {
    throw new ClientInputError(`signature file ${opts.signature}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const connection = await checkedConnection({ ...opts, env }, port);
  const digest = opts.file === undefined ? undefined : (await hashFile(opts.file, opts.signal ? { signal: opts.signal } : {})).digest();

  const session = await openSshSession({ ...connection, maxStdoutBytes: MAX_LOG_FILE_BYTES });
  try {
    const { fetch, count } = sshLogFetch(session, parallel);
    const where = `${opts.user}@${knownHostName(opts.host, port)}`;
    let result: LogCheckResult;
    try {
      result = await checkSignatureInLog({
        fetch,
        verifierKey,
        signature,
        ...(digest !== undefined ? { digest } : {}),
        knownCheckpointsDir: join(checkpointsBase, knownHostName(opts.host, port)),
      });
    } catch (error) {
      if (error instanceof LogVerifyError) throw new LogVerifyError(`${where}: ${error.message}`, { cause: error });
      throw error;
    }
    return { ...result, fetched: count() };
  } finally {
    session.close();
  }
}

/** The one line `verify-log` prints. */
export function describeVerifiedLog(r: VerifyLogResult, file: string | undefined): string {
  const since = r.consistentWith === undefined ? "first checkpoint seen of this log from this host" : `consistent with the checkpoint of size ${r.consistentWith} seen before`;
  return `logged: ${r.origin} entry ${r.index} (key ${r.entry.key}, user ${r.entry.user}${file !== undefined ? ", file digest matches" : ""}), included in the checkpoint of size ${r.checkpoint.size}, ${since}`;
}
