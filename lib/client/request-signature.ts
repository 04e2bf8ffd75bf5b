/**
 * The signing client (`signstar-request-signature`):
 * - `prepareRequest(file)`: hash the file, return the request JSON (what `prepare` prints);
 * - `sendSigningRequest(opts)`: check every local input first (known_hosts, identity/agent, output path, file),
 *   hash, send the request over SSH, parse the response strictly, check the signature is one v4 SHA-512
 *   signature over OUR file's state, and write it atomically.
 *
 * Output format: `FILE.sig` holds the binary OpenPGP signature packet (what pacman and `gpg --verify FILE.sig FILE`
 * expect for `.sig`). With `armor`, the armored text exactly as the host sent it (plus a final newline) goes to
 * `FILE.asc`. `output` overrides the name in both cases.
 */
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { hashFile } from "../signing/file-hasher.js";
import { clientOptionalFields, createSigningRequest } from "../signing/request.js";
import { MAX_RESPONSE_BYTES, parseSigningResponse } from "../signing/response.js";
import { dearmor } from "../signing/openpgp/armor.js";
import type { Sha512State } from "../signing/sha512-state.js";
import { ExitCode, SignstarError, describeError } from "../errors.js";
import { ClientUsageError, HostKeyError, InvalidResponseError, RemoteError } from "./errors.js";
import { agentAuth, loadIdentity, type SshAuth } from "./identity.js";
import { entriesForHost, knownHostName, readKnownHosts } from "./known-hosts.js";
import { checkOutputPath, defaultOutputPath, writeOutputAtomically } from "./output-file.js";
import { checkSignatureForState, type SignatureInfo } from "./signature-check.js";
import { openSshSession, runRemoteCommand, type RemoteCallResult, type SessionOptions, type SshSession } from "./ssh-transport.js";

export interface PrepareOptions {
  readonly now?: Date;
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

export interface SendOptions extends PrepareOptions {
  readonly host: string;
  /** Default 22. */
  readonly port?: number;
  readonly user: string;
  /** Private key file; exactly one of `identity` and `agent`. */
  readonly identity?: string;
  /** `true`: the agent at $SSH_AUTH_SOCK (from `env`); a string: that socket. */
  readonly agent?: boolean | string;
  readonly knownHostsPath: string;
  readonly file: string;
  /** Default `FILE.sig` (binary) or `FILE.asc` (armor). */
  readonly output?: string;
  readonly armor?: boolean;
  readonly force?: boolean;
  readonly readyTimeoutMs?: number;
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export interface SendResult {
  readonly output: string;
  readonly armored: boolean;
  readonly response: { readonly version: string; readonly signature: string };
  readonly signature: SignatureInfo;
  /** First line of the host's stderr on success (warnings), sanitized; usually empty. */
  readonly remoteNotice: string;
}

async function hashedRequest(file: string, opts: PrepareOptions): Promise<{ state: Sha512State; json: string }> {
  const state = await hashFile(file, {
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const json = createSigningRequest(state, clientOptionalFields(basename(file), opts.now ?? new Date()));
  return { state, json };
}

/** The request JSON for `file` (version 1.0.0, optional `request-time` and `file-name`). */
export async function prepareRequest(file: string, opts: PrepareOptions = {}): Promise<string> {
  return (await hashedRequest(file, opts)).json;
}

/** The connection options every subcommand that talks to a host shares (send, verify-log). */
export type ConnectionOptions = Pick<SendOptions, "host" | "port" | "user" | "identity" | "agent" | "readyTimeoutMs" | "timeoutMs">;

/** Checks the connection options (port, host, user, one way to authenticate, timeouts); returns the port. */
export function validate(opts: ConnectionOptions): { port: number } {
  const port = opts.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ClientUsageError(`--port ${port} is not a TCP port`);
  if (opts.host === "" || /[\s/@]/.test(opts.host) || opts.host.startsWith("-")) {
    throw new ClientUsageError(`--host ${JSON.stringify(opts.host)} is not a host name or address`);
  }
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/.test(opts.user)) {
    throw new ClientUsageError(`--user ${JSON.stringify(opts.user)} is not a valid user name`);
  }
  const hasAgent = opts.agent !== undefined && opts.agent !== false;
  if ((opts.identity !== undefined) === hasAgent) throw new ClientUsageError("use exactly one of --identity and --agent");
  for (const [name, v] of [["readyTimeoutMs", opts.readyTimeoutMs], ["timeoutMs", opts.timeoutMs]] as const) {
    if (v !== undefined && (!Number.isFinite(v) || v <= 0 || v > 3_600_000)) throw new ClientUsageError(`${name} ${v} is out of range`);
  }
  return { port };
}

/** The local checks of a connection, before anything is hashed or sent: a known_hosts entry for the host, our key. */
/**
 * The local checks of a connection (a known_hosts entry for the host; the identity file or the agent), then the
 * options every SSH call of the client opens it with: one place for send, the batch and verify-log.
 */
export async function checkedConnection(
  opts: {
    readonly knownHostsPath: string;
    readonly host: string;
    readonly user: string;
    readonly identity?: string;
    readonly agent?: string | boolean;
    readonly env?: NodeJS.ProcessEnv;
    readonly readyTimeoutMs?: number;
    readonly timeoutMs?: number;
    readonly signal?: AbortSignal;
  },
  port: number,
): Promise<Omit<SessionOptions, "maxStdoutBytes">> {
  const knownHosts = await readKnownHosts(opts.knownHostsPath);
  if (!entriesForHost(knownHosts.entries, opts.host, port).some((e) => e.marker === null)) {
    const skipped = knownHosts.skipped.length > 0 ? ` (${knownHosts.skipped.length} malformed lines skipped)` : "";
    throw new HostKeyError("unknown", `host ${knownHostName(opts.host, port)} has no entry in ${opts.knownHostsPath}${skipped}`);
  }
  const auth: SshAuth =
    opts.identity !== undefined
      ? await loadIdentity(opts.identity)
      : await agentAuth(typeof opts.agent === "string" ? opts.agent : undefined, opts.env ?? process.env);
  return {
    host: opts.host,
    port,
    user: opts.user,
    auth,
    knownHosts: knownHosts.entries,
    knownHostsPath: opts.knownHostsPath,
    ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

export async function sendSigningRequest(opts: SendOptions): Promise<SendResult> {
  const { port } = validate(opts);
  const armored = opts.armor === true;
  const force = opts.force === true;
  const output = opts.output ?? defaultOutputPath(opts.file, armored);

  // Local checks first: nothing is hashed or sent while any of them fails.
  const connection = await checkedConnection(opts, port);
  await checkOutputPath(output, opts.file, force);

  const { state, json } = await hashedRequest(opts.file, opts);
  opts.signal?.throwIfAborted();

  const { stdout, stderr } = await runRemoteCommand({ ...connection, input: Buffer.from(json, "utf8"), maxStdoutBytes: opts.maxResponseBytes ?? MAX_RESPONSE_BYTES });

  return finishFile(output, armored, force, state, { stdout, stderr }, opts.signal);
}

/** How many bytes of an answer that is not a signing response are shown. */
export const SHOWN_ANSWER_BYTES = 64;

/**
 * The signing response in the host's answer. An answer that is not even shaped like one (another role's
 * ForceCommand, a login shell's banner) is named as such with its first bytes, not as a JSON syntax error; the
 * bytes are quoted and, like every message, stripped of control characters (lib/errors.ts oneLine).
 */
function parseAnswer(stdout: Buffer): { version: string; signature: string } {
  try {
    return parseSigningResponse(stdout);
  } catch (err) {
    const text = stdout.toString("utf8");
    const shaped = /^\s*\{/.test(text) && /"(signature|version)"\s*:/.test(text);
    if (!(err instanceof SignstarError) || shaped) throw err;
    const shown =
      stdout.length === 0
        ? "nothing on stdout"
        : `${stdout.length} bytes beginning ${JSON.stringify(stdout.subarray(0, SHOWN_ANSWER_BYTES).toString("utf8"))}`;
    throw new InvalidResponseError(
      `the host did not answer with a signing response (is the user's ForceCommand signstar-download-signature?); it sent ${shown}`,
      { cause: err },
    );
  }
}

/** Parses and checks the host's answer for a file's state and writes the signature: the last step of every request. */
async function finishFile(
  output: string,
  armored: boolean,
  force: boolean,
  state: Sha512State,
  { stdout, stderr }: RemoteCallResult,
  signal: AbortSignal | undefined,
): Promise<SendResult> {
  const response = parseAnswer(stdout);
  let binary: Uint8Array;
  try {
    binary = dearmor(response.signature).data;
  } catch (err) {
    // parseSigningResponse already dearmors; this only guards against a contract change.
    throw new InvalidResponseError(`response: field signature: ${err instanceof SignstarError ? err.message : "not armored"}`, {
      cause: err,
    });
  }
  const signature = checkSignatureForState(binary, state);

  const data = armored
    ? Buffer.from(response.signature.endsWith("\n") ? response.signature : `${response.signature}\n`, "utf8")
    : binary;
  signal?.throwIfAborted();
  await writeOutputAtomically(output, data, force);
  return { output, armored, response, signature, remoteNotice: stderr };
}

export interface BatchOptions extends Omit<SendOptions, "file" | "onProgress"> {
  readonly files: readonly string[];
  /** Requests in flight at once on the one connection (≤ the host's MaxSessions; configure-build sets 16). */
  readonly parallel?: number;
  /** Stop starting new files after the first failure. */
  readonly failFast?: boolean;
  /** Bytes hashed so far of all files, and the total (one progress bar for the batch). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Told as each file finishes, in the order they finish. */
  readonly onResult?: (result: BatchResult) => void;
}

export type BatchResult =
  | { readonly file: string; readonly ok: true; readonly result: SendResult }
  | { readonly file: string; readonly ok: false; readonly message: string; readonly exitCode: number };

export const DEFAULT_PARALLEL = 8;
export const MAX_PARALLEL = 64;

/** `--parallel`: requests (or log files) in flight on the one connection, within 1..MAX_PARALLEL. */
export function parallelOf(opts: { readonly parallel?: number }): number {
  const parallel = opts.parallel ?? DEFAULT_PARALLEL;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > MAX_PARALLEL) throw new ClientUsageError(`--parallel ${parallel} is not within 1..${MAX_PARALLEL}`);
  return parallel;
}
/** The most files one `send` takes (each is one request; more go in another call). */
export const MAX_BATCH_FILES = 100_000;

/**
 * `send FILE…`: every file over ONE SSH connection, one exec channel (one request, Signstar's wire format) per
 * file, `parallel` in flight, so the hashing of the next files overlaps the signing of earlier ones. A file's
 * failure is that file's result; the others go on unless `failFast`. A failure of the connection itself (host
 * key, authentication, network) fails the whole batch before any file, as it would a single request.
 * Results come back in the order of `files`.
 */
export async function sendSigningBatch(opts: BatchOptions): Promise<BatchResult[]> {
  const { port } = validate(opts);
  const parallel = parallelOf(opts);
  if (opts.files.length === 0 || opts.files.length > MAX_BATCH_FILES) throw new ClientUsageError(`send takes 1 to ${MAX_BATCH_FILES} files`);
  if (opts.output !== undefined && opts.files.length > 1) throw new ClientUsageError("--output names one file's signature; it cannot be used with several files");
  const armored = opts.armor === true;
  const force = opts.force === true;

  const connection = await checkedConnection(opts, port);

  // Sizes for the one progress bar (a file that cannot be read fails on its own below).
  const sizes = await Promise.all(opts.files.map((f) => stat(f).then((s) => s.size, () => 0)));
  const total = sizes.reduce((a, b) => a + b, 0);
  const hashed = new Array<number>(opts.files.length).fill(0);
  let hashedSum = 0;

  const session = await openSshSession({ ...connection, maxStdoutBytes: opts.maxResponseBytes ?? MAX_RESPONSE_BYTES });
  const results = new Array<BatchResult | undefined>(opts.files.length);
  let next = 0;
  let stopped = false;
  const one = async (index: number): Promise<BatchResult> => {
    const file = opts.files[index]!;
    try {
      const output = defaultOutputPath(file, armored);
      await checkOutputPath(opts.output ?? output, file, force);
      const { state, json } = await hashedRequest(file, {
        ...(opts.now ? { now: opts.now } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (done) => {
          hashedSum += done - hashed[index]!;
          hashed[index] = done;
          opts.onProgress?.(hashedSum, total);
        },
      });
      const answer = await execRetryingBusy(session, Buffer.from(json, "utf8"), opts.signal);
      return { file, ok: true, result: await finishFile(opts.output ?? output, armored, force, state, answer, opts.signal) };
    } catch (error) {
      opts.signal?.throwIfAborted();
      const { message, exitCode } = describeError(error);
      return { file, ok: false, message, exitCode };
    }
  };
  const worker = async (): Promise<void> => {
    while (!stopped && next < opts.files.length) {
      const index = next++;
      const result = await one(index);
      results[index] = result;
      opts.onResult?.(result);
      if (!result.ok && opts.failFast) stopped = true;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, opts.files.length) }, worker));
  } finally {
    session.close();
  }
  return results.filter((r): r is BatchResult => r !== undefined);
}

/** How often, and how long at most, a batch request is tried again after the host said "busy, try again". */
export const BUSY_RETRIES = 30;
const BUSY_DELAY_MS = [20, 50, 100, 200, 400, 800] as const;

/**
 * One request of a batch. The host answers Busy (exit code 9) when the user's limits of concurrent and queued
 * requests are reached or its resident signer stopped mid-request; the request is idempotent (a signature over
 * the same state), so a batch tries it again after a growing pause, up to BUSY_RETRIES times.
 */
async function execRetryingBusy(session: SshSession, input: Uint8Array, signal: AbortSignal | undefined): Promise<RemoteCallResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await session.exec(input);
    } catch (error) {
      if (!(error instanceof RemoteError) || error.remoteExitCode !== ExitCode.Busy || attempt >= BUSY_RETRIES) throw error;
      const base = BUSY_DELAY_MS[Math.min(attempt, BUSY_DELAY_MS.length - 1)]!;
      await new Promise((resolve) => setTimeout(resolve, base + Math.floor(Math.random() * base)));
      signal?.throwIfAborted();
    }
  }
}
