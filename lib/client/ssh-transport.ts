/**
 * One request over SSH with ssh2: connect, check the host key against known_hosts, authenticate, run the empty
 * command (the host's ForceCommand decides what runs), write the request, send EOF, collect stdout/stderr and the
 * exit status, disconnect.
 *
 * Bounds: `readyTimeoutMs` for TCP + handshake + authentication, `timeoutMs` for everything, `maxStdoutBytes` for
 * the answer (exceeding it aborts the connection), `maxStderrBytes` for the error text (the rest is dropped).
 * No PTY, no agent forwarding, no port forwarding are requested.
 */
import ssh2 from "ssh2";
import type { ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from "ssh2";
import {
  AuthenticationError,
  ConnectionError,
  HostKeyError,
  RemoteError,
} from "./errors.js";
import {
  describeHostKey,
  hostKeyAlgorithmsFor,
  hostKeyVerdict,
  knownHostName,
  type HostKeyVerdict,
  type KnownHostEntry,
} from "./known-hosts.js";
import type { SshAuth } from "./identity.js";

export interface RemoteCallOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly auth: SshAuth;
  readonly knownHosts: readonly KnownHostEntry[];
  /** Named in host key errors. */
  readonly knownHostsPath: string;
  /** Written to the remote command's stdin, followed by EOF. */
  readonly input: Uint8Array;
  readonly readyTimeoutMs?: number;
  readonly timeoutMs?: number;
  readonly maxStdoutBytes?: number;
  readonly maxStderrBytes?: number;
  /** Aborting closes the connection and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface RemoteCallResult {
  readonly stdout: Buffer;
  /** Sanitized stderr (may be non-empty on success: warnings). */
  readonly stderr: string;
}

export const DEFAULT_READY_TIMEOUT_MS = 10_000;
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_STDOUT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_STDERR_BYTES = 8 * 1024;
const MAX_MESSAGE_CHARS = 300;

/**
 * First non-empty line of the remote's stderr, with control characters (terminal escapes) removed and cut to
 * 300 characters: it is untrusted text that ends up on the user's terminal.
 */
export function remoteMessage(stderr: string): string {
  for (const line of stderr.split(/\r?\n/)) {
    const clean = line.replace(/[\u0000-\u001f\u007f-\u009f]/g, "").trim();
    if (clean !== "") return clean.length > MAX_MESSAGE_CHARS ? `${clean.slice(0, MAX_MESSAGE_CHARS)}…` : clean;
  }
  return "";
}

/** Bounds and names of one call, resolved from the options. */
interface CallLimits {
  readonly readyTimeoutMs: number;
  readonly timeoutMs: number;
  readonly maxStdout: number;
  readonly maxStderr: number;
  /** `user@host` or `user@[host]:port`, as messages name the peer. */
  readonly where: string;
}

function limitsOf(opts: RemoteCallOptions): CallLimits {
  return {
    readyTimeoutMs: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxStdout: opts.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES,
    maxStderr: opts.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES,
    where: `${opts.user}@${knownHostName(opts.host, opts.port)}`,
  };
}

/** ssh2's connection settings: our host key check and algorithms, one way to authenticate, nothing forwarded. */
function connectConfig(opts: RemoteCallOptions, limits: CallLimits, hostVerifier: (key: Buffer) => boolean): ConnectConfig {
  const config: ConnectConfig = {
    host: opts.host,
    port: opts.port,
    username: opts.user,
    readyTimeout: limits.readyTimeoutMs,
    hostVerifier,
    algorithms: {
      serverHostKey: hostKeyAlgorithmsFor(opts.knownHosts, opts.host, opts.port) as ServerHostKeyAlgorithm[],
    },
    agentForward: false,
    tryKeyboard: false,
  };
  if (opts.auth.kind === "identity") config.privateKey = opts.auth.privateKey;
  else config.agent = opts.auth.socket;
  return config;
}

/** What an error of the ssh2 client means: an untrusted host key, a refused key, the agent, a timeout, the network. */
function connectionFailure(
  err: Error & { level?: string },
  opts: RemoteCallOptions,
  limits: CallLimits,
  hostVerdict: { verdict: HostKeyVerdict; key: Buffer } | undefined,
  authenticated: boolean,
): Error {
  const { where } = limits;
  if (hostVerdict !== undefined && hostVerdict.verdict !== "trusted") return hostKeyError(hostVerdict.verdict, hostVerdict.key, opts);
  if (err.level === "client-authentication") return new AuthenticationError(`${where}: the host refused our SSH key (${authWhat(opts.auth)})`, { cause: err });
  if (err.level === "agent") return new AuthenticationError(`${where}: ssh-agent failed: ${oneLineOf(err.message)}`, { cause: err });
  if (err.level === "client-timeout") {
    return new ConnectionError(`${where}: no SSH session within ${Math.round(limits.readyTimeoutMs / 1000)} s (connect, handshake, authentication)`, { cause: err });
  }
  return new ConnectionError(`${where}: ${authenticated ? "SSH session failed" : "cannot connect"}: ${oneLineOf(err.message)}`, { cause: err });
}

/** The outcome of the remote command once its channel closed: its stdout, or a RemoteError with its first stderr line. */
function commandOutcome(
  exit: { code: number | null; signal: string | null } | undefined,
  stdout: Buffer,
  stderr: string,
  where: string,
): RemoteCallResult | RemoteError {
  const message = remoteMessage(stderr);
  const said = message === "" ? "" : `: ${message}`;
  if (exit === undefined) return new RemoteError(`${where}: remote command did not exit cleanly (no exit status)${said}`, null, message);
  if (exit.code === null) {
    return new RemoteError(`${where}: remote command ended without exit status${exit.signal ? ` (signal ${exit.signal})` : ""}${said}`, null, message);
  }
  if (exit.code !== 0) return new RemoteError(`${where}: remote command failed with exit code ${exit.code}${said}`, exit.code, message);
  return { stdout, stderr: message };
}

/**
 * Sends `input` on the command's stdin and collects its stdout (bounded: more ends the call), stderr (the first
 * maxStderr bytes) and exit status; calls `done` once the channel closed or failed.
 */
function runOnChannel(stream: ClientChannel, input: Uint8Array, limits: CallLimits, done: (err: Error | null, result?: RemoteCallResult) => void): void {
  const out: Buffer[] = [];
  let outLen = 0;
  const err: Buffer[] = [];
  let errLen = 0;
  let exit: { code: number | null; signal: string | null } | undefined;
  stream.on("data", (chunk: Buffer) => {
    outLen += chunk.length;
    if (outLen > limits.maxStdout) {
      done(new ConnectionError(`${limits.where}: the answer is larger than ${limits.maxStdout} bytes`));
      return;
    }
    out.push(chunk);
  });
  stream.stderr.on("data", (chunk: Buffer) => {
    if (errLen >= limits.maxStderr) return;
    const part = chunk.subarray(0, limits.maxStderr - errLen);
    errLen += part.length;
    err.push(part);
  });
  stream.on("exit", (code: number | null, signal?: string) => {
    exit = { code: typeof code === "number" ? code : null, signal: typeof signal === "string" ? signal : null };
  });
  stream.on("error", (e: Error) => done(new ConnectionError(`${limits.where}: SSH channel failed: ${oneLineOf(e.message)}`, { cause: e })));
  stream.on("close", () => {
    const outcome = commandOutcome(exit, Buffer.concat(out), Buffer.concat(err).toString("utf8"), limits.where);
    if (outcome instanceof RemoteError) done(outcome);
    else done(null, outcome);
  });
  stream.end(Buffer.from(input));
}

export function runRemoteCommand(opts: RemoteCallOptions): Promise<RemoteCallResult> {
  const limits = limitsOf(opts);
  const { where } = limits;
  return new Promise<RemoteCallResult>((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    let hostVerdict: { verdict: HostKeyVerdict; key: Buffer } | undefined;
    let authenticated = false;

    // Settles once; the connection goes away whatever the peer does.
    const finish = (err: Error | null, result?: RemoteCallResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(overall);
      opts.signal?.removeEventListener("abort", onAbort);
      client.removeAllListeners("ready");
      client.on("error", () => undefined); // late errors after we are done
      client.end();
      // end() is polite; make sure the socket goes away even if the peer never answers.
      setImmediate(() => client.destroy());
      if (err) reject(err);
      else if (result) resolve(result);
    };
    const onAbort = (): void => {
      const reason: unknown = opts.signal?.reason;
      finish(reason instanceof Error ? reason : new ConnectionError(`${where}: aborted`));
    };
    const overall = setTimeout(() => finish(new ConnectionError(`${where}: no complete answer within ${Math.round(limits.timeoutMs / 1000)} s`)), limits.timeoutMs);
    const hostVerifier = (key: Buffer): boolean => {
      const verdict = hostKeyVerdict(opts.knownHosts, opts.host, opts.port, key);
      hostVerdict = { verdict, key: Buffer.from(key) };
      return verdict === "trusted";
    };

    client.on("error", (err: Error & { level?: string }) => finish(connectionFailure(err, opts, limits, hostVerdict, authenticated)));
    client.on("close", () => finish(new ConnectionError(`${where}: connection closed before the remote command finished`)));
    client.on("ready", () => {
      authenticated = true;
      // The empty command: the host's ForceCommand decides what runs.
      client.exec("", (err: Error | undefined, stream: ClientChannel) => {
        if (err) finish(new ConnectionError(`${where}: the host refused to run the command: ${oneLineOf(err.message)}`, { cause: err }));
        else runOnChannel(stream, opts.input, limits, finish);
      });
    });

    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      client.connect(connectConfig(opts, limits, hostVerifier));
    } catch (err) {
      finish(new ConnectionError(`${where}: cannot start SSH: ${oneLineOf(err instanceof Error ? err.message : String(err))}`, { cause: err }));
    }
  });
}

function hostKeyError(
  verdict: Exclude<HostKeyVerdict, "trusted">,
  key: Buffer,
  opts: RemoteCallOptions,
): HostKeyError {
  const name = knownHostName(opts.host, opts.port);
  const fp = describeHostKey(key);
  switch (verdict) {
    case "revoked":
      return new HostKeyError(verdict, `host key ${fp} of ${name} is marked @revoked in ${opts.knownHostsPath}`);
    case "mismatch":
      return new HostKeyError(
        verdict,
        `host key ${fp} of ${name} does not match its entries in ${opts.knownHostsPath} (key changed?)`,
      );
    case "unknown":
      return new HostKeyError(verdict, `host ${name} (key ${fp}) is not in ${opts.knownHostsPath}`);
  }
}

function authWhat(auth: SshAuth): string {
  return auth.kind === "identity" ? `identity ${auth.path}` : `keys of ssh-agent ${auth.socket}`;
}

function oneLineOf(text: string): string {
  return remoteMessage(text) || "unknown error";
}

/** One SSH connection for many requests (`send FILE…`): each `exec` is its own exec channel with the empty command. */
export interface SshSession {
  /**
   * Runs the host's ForceCommand once with `input` on stdin; its own deadline (`timeoutMs`) and stdout bound.
   * `command` is what the ForceCommand sees as SSH_ORIGINAL_COMMAND (default none; a log_reader's file path).
   */
  exec(input: Uint8Array, command?: string): Promise<RemoteCallResult>;
  close(): void;
}

export type SessionOptions = Omit<RemoteCallOptions, "input">;

/**
 * Connects and authenticates as runRemoteCommand does (same host key check, same errors) and keeps the connection
 * for `exec` calls; several may run at once (sshd allows MaxSessions channels per connection; configure-build sets
 * it for signing users). A failed connection fails every call in flight and every later one.
 */
export function openSshSession(opts: SessionOptions): Promise<SshSession> {
  const limits = limitsOf({ ...opts, input: new Uint8Array() });
  const { where } = limits;
  return new Promise<SshSession>((resolve, reject) => {
    const client = new ssh2.Client();
    let hostVerdict: { verdict: HostKeyVerdict; key: Buffer } | undefined;
    let ready = false;
    let broken: Error | undefined;
    const pending = new Set<(err: Error) => void>();
    const fail = (err: Error): void => {
      if (broken) return;
      broken = err;
      if (!ready) reject(err);
      for (const p of pending) p(err);
      pending.clear();
      client.on("error", () => undefined);
      client.destroy();
    };
    const hostVerifier = (key: Buffer): boolean => {
      const verdict = hostKeyVerdict(opts.knownHosts, opts.host, opts.port, key);
      hostVerdict = { verdict, key: Buffer.from(key) };
      return verdict === "trusted";
    };
    const onAbort = (): void => {
      const reason: unknown = opts.signal?.reason;
      fail(reason instanceof Error ? reason : new ConnectionError(`${where}: aborted`));
    };
    client.on("error", (err: Error & { level?: string }) => fail(connectionFailure(err, { ...opts, input: new Uint8Array() }, limits, hostVerdict, ready)));
    client.on("close", () => fail(new ConnectionError(`${where}: connection closed`)));
    client.on("ready", () => {
      ready = true;
      resolve({
        exec(input, command = "") {
          return new Promise<RemoteCallResult>((res, rej) => {
            if (broken) {
              rej(broken);
              return;
            }
            let settled = false;
            const done = (err: Error | null, result?: RemoteCallResult): void => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              pending.delete(onBroken);
              if (err) rej(err);
              else if (result) res(result);
            };
            const onBroken = (err: Error): void => done(err);
            pending.add(onBroken);
            const timer = setTimeout(() => done(new ConnectionError(`${where}: no complete answer within ${Math.round(limits.timeoutMs / 1000)} s`)), limits.timeoutMs);
            client.exec(command, (err: Error | undefined, stream: ClientChannel) => {
              if (err) done(new ConnectionError(`${where}: the host refused to run the command: ${oneLineOf(err.message)}`, { cause: err }));
              else
                runOnChannel(stream, input, limits, (e, r) => {
                  if (e) stream.destroy();
                  done(e, r);
                });
            });
          });
        },
        close() {
          opts.signal?.removeEventListener("abort", onAbort);
          broken ??= new ConnectionError(`${where}: session closed`);
          client.on("error", () => undefined);
          client.end();
          setImmediate(() => client.destroy());
        },
      });
    });
    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      client.connect(connectConfig({ ...opts, input: new Uint8Array() }, limits, hostVerifier));
    } catch (err) {
      fail(new ConnectionError(`${where}: cannot start SSH: ${oneLineOf(err instanceof Error ? err.message : String(err))}`, { cause: err }));
    }
  });
}
