/**
 * signstar-log-writer: the one process that appends to the signing log (docs/tlog.md). It runs as its own system
 * user, owns the log directory, holds the log key (a root-only key file handed in by systemd's LoadCredential as
 * `$CREDENTIALS_DIRECTORY/signstar-log-key`), and listens on /run/signstar/log/writer.sock (passed in by
 * signstar-log-writer.socket, or bound itself). Only the configuration's signing users get in (SO_PEERCRED);
 * their entries carry the user name the kernel reported.
 */
import { lstat, mkdir, chmod, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { loadConfig, type ConfigLocation } from "../config/load.js";
import { isSigningMapping, userMappings } from "../config/mappings.js";
import { ExitCode, SignstarError } from "../errors.js";
import type { LogSink } from "../log/syslog.js";
import { lookupUser } from "../os/accounts.js";
import type { Readable } from "node:stream";
import { readBounded } from "../os/read-stream.js";
import { MAX_KEY_FILE_BYTES, loadLogKeyFile, parseLogKey } from "../tlog/key-file.js";
import { ed25519KeyId, formatVerifierKey, type NoteSigner } from "../tlog/note.js";
import { userInfo } from "node:os";
import { logKeyName } from "../config/model.js";
import { AUTH_RETRY_DELAY_MS, isAuthenticationFailure, openLogKey, reopenMayCure, type Ed25519MessageKey } from "../backends/index.js";
import { serveLog } from "../tlog/server.js";
import { LogWriter } from "../tlog/writer.js";

/** sd_listen_fds(3): the first passed descriptor. */
const SD_LISTEN_FDS_START = 3;
export const LOG_KEY_CREDENTIAL = "signstar-log-key";
const KEY_STDIN_TIMEOUT_MS = 10_000;
/** How often at most an unknown peer makes the writer re-read the configuration's signing users. */
const REFRESH_MS = 1000;

export interface LogWriterInput {
  readonly config: ConfigLocation;
  /**
   * The key file; default `$CREDENTIALS_DIRECTORY/signstar-log-key`. `-` reads it from `stdin` instead: how root
   * hands the root-only key to a writer started without systemd, as LoadCredential does
   * (`runuser -u signstar-log -- signstar-log-writer --key - < /var/lib/signstar/log.key`).
   */
  readonly keyFile?: string;
  readonly stdin?: Readable;
  /** Root of the host layout for the writer's secret file (signing_log.pkcs11_token); default the live system. */
  readonly secretRoot?: string;
  /** The log directory (hostLayout's signingLogDir). */
  readonly logDir: string;
  /** The socket path to bind when systemd passed none (hostLayout's logWriterSocket). */
  readonly socket: string;
  readonly env: NodeJS.ProcessEnv;
  readonly log: LogSink;
  readonly batchWindowMs?: number;
}

export interface RunningLogWriter {
  readonly writer: LogWriter;
  readonly server: Server;
  close(): Promise<void>;
}

export async function startLogWriter(input: LogWriterInput): Promise<RunningLogWriter> {
  const { config } = await loadConfig(input.config);
  const setup = config.system.signingLog;
  if (setup === undefined) throw new SignstarError("the configuration does not enable the signing log (signing_log in [system])", ExitCode.Config);
  let signer: NoteSigner;
  let backendKey: BackendNoteSigner | undefined;
  const place = setup.key;
  if (place.kind !== "file") {
    if (input.keyFile !== undefined) throw new SignstarError(`the log key is the ${logKeyName(place)} (signing_log); --key is not used`, ExitCode.Usage);
    const uid = process.getuid?.() ?? 0;
    // This user's own secret file, which signstar-configure wrote for the writer's user alone.
    const secret = { systemUser: userInfo().username, handling: config.system.nonAdminSecretHandling, uid, ...(input.secretRoot !== undefined ? { root: input.secretRoot } : {}) };
    backendKey = await BackendNoteSigner.open(setup.origin, () => openLogKey(config, place, secret), {
      authRetryDelayMs: AUTH_RETRY_DELAY_MS[place.kind],
      onReopen: (cause) => void input.log.write("info", `signing log: re-opened the ${logKeyName(place)} after: ${cause}`).catch(() => undefined),
    });
    signer = backendKey;
  } else {
    const credentials = input.env["CREDENTIALS_DIRECTORY"];
    const keyFile = input.keyFile ?? (credentials !== undefined ? join(credentials, LOG_KEY_CREDENTIAL) : undefined);
    if (keyFile === undefined) throw new SignstarError(`no log key: give --key or run under systemd with LoadCredential=${LOG_KEY_CREDENTIAL}:…`, ExitCode.Config);
    signer = keyFile === "-" ? await keyFromStdin(input.stdin) : await loadLogKeyFile(keyFile, { uid: process.getuid?.() ?? 0 });
  }
  if (signer.name !== setup.origin) {
    throw new SignstarError(`the log key is for ${JSON.stringify(signer.name)}, but the configuration's signing log is ${JSON.stringify(setup.origin)}`, ExitCode.Config);
  }
  const users = new SigningUsers(input.config, setup.origin);
  await users.refresh();
  const writer = await LogWriter.open({ dir: input.logDir, signer, ...(input.batchWindowMs !== undefined ? { batchWindowMs: input.batchWindowMs } : {}) });
  const server = createServer();
  serveLog(server, writer, {
    userOf: (uid) => users.userOf(uid),
    onRefused: (uid) => void input.log.write("warning", `signing log: refused a connection from uid ${uid}, which is not a signing user`).catch(() => undefined),
  });
  try {
    await listen(server, input.socket, input.env);
  } catch (error) {
    await writer.close();
    throw error;
  }
  await input.log.write("info", `signing log ${setup.origin}: ${writer.size} entries, listening; verifier key ${signer.verifierKey}`).catch(() => undefined);
  return {
    writer,
    server,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await writer.close();
      await backendKey?.close();
    },
  };
}

export interface BackendNoteSignerOptions {
  /** How long the backend refuses a user after a refused login (lib/backends/login.ts AUTH_RETRY_DELAY_MS). */
  readonly authRetryDelayMs?: number;
  /** Told why the key was re-opened (a backend's message: no secret in it). */
  readonly onReopen?: (cause: string) => void;
}

/**
 * The log key on its token or NetHSM as a NoteSigner (pure Ed25519 of the note text, https://c2sp.org/signed-note).
 * A signature that fails for what a fresh session cures re-opens the key once — reading the secret files anew — and
 * signs again: signstar-configure gives the writer's NetHSM user a new passphrase on every run (and a token a new
 * user PIN), and a NetHSM or p11-kit server may restart under a running writer. The re-opened key must be the key
 * the writer started with: checkpoints are never signed by another key.
 */
export class BackendNoteSigner implements NoteSigner {
  #key: Ed25519MessageKey | undefined;
  #opening: Promise<Ed25519MessageKey> | undefined;
  /** How many times the key was opened (tests see re-opens). */
  opened = 1;
  private constructor(
    readonly name: string,
    readonly keyId: Uint8Array,
    readonly verifierKey: string,
    private readonly publicKey: Uint8Array,
    private readonly openKey: () => Promise<Ed25519MessageKey>,
    private readonly opts: BackendNoteSignerOptions,
    key: Ed25519MessageKey,
  ) {
    this.#key = key;
  }

  static async open(origin: string, openKey: () => Promise<Ed25519MessageKey>, opts: BackendNoteSignerOptions = {}): Promise<BackendNoteSigner> {
    const key = await openKey();
    const pk = key.publicKey;
    if (pk.kind !== "ed25519") {
      await key.close();
      throw new SignstarError(`the signing log key is not an Ed25519 key (${pk.kind})`, ExitCode.Config);
    }
    return new BackendNoteSigner(origin, ed25519KeyId(origin, pk.a), formatVerifierKey(origin, pk.a), pk.a, openKey, opts, key);
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    const key = this.#key ?? (await this.#reopen(undefined));
    try {
      return await key.signEd25519Message(message);
    } catch (error) {
      if (!reopenMayCure(error)) throw error;
      // A passphrase refused (rotated): the NetHSM throttles this user for a second; logging in sooner is refused too.
      const delay = this.opts.authRetryDelayMs ?? 0;
      if (isAuthenticationFailure(error) && delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      const fresh = await this.#reopen(key);
      this.opts.onReopen?.(error instanceof Error ? error.message : String(error));
      return fresh.signEd25519Message(message);
    }
  }

  async close(): Promise<void> {
    await this.#opening?.catch(() => undefined);
    const key = this.#key;
    this.#key = undefined;
    await key?.close();
  }

  /** Replaces `stale` (when it is still the held key) by a fresh one; concurrent callers share one re-open. */
  async #reopen(stale: Ed25519MessageKey | undefined): Promise<Ed25519MessageKey> {
    if (this.#key !== undefined && this.#key !== stale) return this.#key;
    this.#opening ??= (async () => {
      this.#key = undefined;
      await stale?.close().catch(() => undefined);
      const key = await this.openKey();
      this.opened++;
      const pk = key.publicKey;
      if (pk.kind !== "ed25519" || !Buffer.from(pk.a).equals(Buffer.from(this.publicKey))) {
        await key.close();
        throw new SignstarError(`the signing log key ${this.verifierKey.split("+").slice(0, 2).join("+")} was replaced on its backend; no checkpoint is signed with another key`, ExitCode.Config);
      }
      this.#key = key;
      return key;
    })().finally(() => (this.#opening = undefined));
    return this.#opening;
  }
}

/** The key handed over on stdin (a redirection from the root-only file): bounded, read within seconds. */
async function keyFromStdin(stdin: Readable | undefined): Promise<NoteSigner> {
  if (stdin === undefined) throw new SignstarError("--key -: no standard input to read the log key from", ExitCode.Usage);
  const data = await readBounded(stdin, "the log key on standard input", MAX_KEY_FILE_BYTES, KEY_STDIN_TIMEOUT_MS);
  try {
    return parseLogKey(data, "the log key on standard input");
  } finally {
    data.fill(0);
  }
}

/**
 * The configuration's signing users by uid. A uid not among them makes it read the configuration and the accounts
 * again (at most every REFRESH_MS): a signing user that signstar-configure-build added later is served without a
 * restart of the writer, one that left the configuration is no longer served.
 */
class SigningUsers {
  #byUid = new Map<number, string>();
  #last = 0;
  #pending: Promise<void> | undefined;
  constructor(
    private readonly location: ConfigLocation,
    private readonly origin: string,
  ) {}

  async refresh(): Promise<void> {
    this.#last = Date.now();
    const { config } = await loadConfig(this.location);
    // The writer keeps the origin it started with: a changed origin needs a new key, i.e. a restart.
    if (config.system.signingLog?.origin !== this.origin) return;
    const byUid = new Map<number, string>();
    for (const m of userMappings(config)) {
      if (!isSigningMapping(m)) continue;
      const entry = await lookupUser(m.mapping.systemUser);
      if (entry !== undefined) byUid.set(entry.uid, entry.name);
    }
    this.#byUid = byUid;
  }

  async userOf(uid: number): Promise<string | undefined> {
    const known = this.#byUid.get(uid);
    if (known !== undefined) return known;
    if (this.#pending === undefined && Date.now() - this.#last >= REFRESH_MS) {
      this.#pending = this.refresh()
        .catch(() => undefined)
        .finally(() => (this.#pending = undefined));
    }
    await this.#pending;
    return this.#byUid.get(uid);
  }
}

async function listen(server: Server, path: string, env: NodeJS.ProcessEnv): Promise<void> {
  const passed = Number(env["LISTEN_FDS"] ?? "0") >= 1 && env["LISTEN_PID"] === String(process.pid);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  if (!passed) {
    // A socket left by a writer that died; anything else there is not ours to remove.
    const old = await lstat(path).catch(() => undefined);
    if (old?.isSocket()) await unlink(path);
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(passed ? { fd: SD_LISTEN_FDS_START } : { path, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // Everyone may connect; the peer check (SO_PEERCRED) decides who is served.
  if (!passed) await chmod(path, 0o666);
}

/** signstar-log-writer's main: start, serve until `signal` aborts (SIGTERM), then finish pending appends and exit. */
export async function runLogWriter(input: LogWriterInput & { readonly signal: AbortSignal }): Promise<number> {
  const running = await startLogWriter(input);
  await new Promise<void>((resolve) => {
    if (input.signal.aborted) resolve();
    else input.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await running.close();
  return ExitCode.Ok;
}
