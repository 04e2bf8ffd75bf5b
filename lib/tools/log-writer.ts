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
import type { Config } from "../config/model.js";
import { pkcs11BackendUser } from "../config/model.js";
import { openWithUserSecret } from "../backends/index.js";
import type { Pkcs11SigningKey } from "../backends/pkcs11/index.js";
import { LOG_KEY_LABEL } from "../configure/signing-log.js";
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
  let tokenKey: Pkcs11SigningKey | undefined;
  if (setup.pkcs11Token !== undefined) {
    if (input.keyFile !== undefined) throw new SignstarError(`the log key is on token ${JSON.stringify(setup.pkcs11Token)} (signing_log.pkcs11_token); --key is not used`, ExitCode.Usage);
    tokenKey = await openTokenKey(config, setup.pkcs11Token, input.secretRoot);
    signer = tokenNoteSigner(setup.origin, tokenKey);
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
      await tokenKey?.close();
    },
  };
}

/**
 * The log key on its token (signing_log.pkcs11_token, docs/tlog.md "Where the log key lives"), logged in with the
 * token's user PIN from this user's own secret file, which signstar-configure wrote for the writer's user alone.
 */
async function openTokenKey(config: Config, label: string, root: string | undefined): Promise<Pkcs11SigningKey> {
  const module = config.pkcs11?.module;
  if (module === undefined) throw new SignstarError("signing_log.pkcs11_token needs a [pkcs11] section", ExitCode.Config);
  const token = { label };
  const uid = process.getuid?.() ?? 0;
  const location = { systemUser: userInfo().username, backendUser: pkcs11BackendUser(token), handling: config.system.nonAdminSecretHandling, uid, ...(root !== undefined ? { root } : {}) };
  const { openPkcs11SigningKey } = await import("../backends/pkcs11/index.js");
  const { value } = await openWithUserSecret({ backend: "pkcs11" }, location, (pin) => openPkcs11SigningKey({ module, token, key: { label: LOG_KEY_LABEL }, pin }));
  return value;
}

/** A NoteSigner whose signatures the token makes: pure Ed25519 of the note text (https://c2sp.org/signed-note). */
export function tokenNoteSigner(origin: string, key: Pkcs11SigningKey): NoteSigner {
  const pk = key.publicKey;
  if (pk.kind !== "ed25519") throw new SignstarError(`the signing log key label:${LOG_KEY_LABEL} is not an Ed25519 key`, ExitCode.Config);
  return { name: origin, keyId: ed25519KeyId(origin, pk.a), verifierKey: formatVerifierKey(origin, pk.a), sign: (message) => key.signEd25519Message(message) };
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
