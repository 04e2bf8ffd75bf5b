/**
 * signstar-signer: the resident signer of one signing user (docs/resident-signer.md). Runs as that user
 * (systemd signstar-signer@<user>.service, or started directly where there is no systemd), listens on
 * /run/signstar/signer/<user>/socket and answers each connection of the forwarder (the user's ForceCommand,
 * lib/signer/native/forwarder.c) with exactly what the in-process signstar-download-signature would print and
 * return: it runs the same function (downloadSignature), with the same audit entry and counters; only the key
 * is held open between requests (lib/signer/resident-keys.ts). It exits when idle for `idleTimeoutMs`.
 */
import { ExitCode, describeError } from "../errors.js";
import type { LogSink } from "../log/syslog.js";
import { refuseRoot, type Caller } from "../caller/caller.js";
import type { ConfigLocation } from "../config/load.js";
import { peerCredentials } from "../os/unix-socket.js";
import type { Answer } from "../signer/frames.js";
import { listenSigner } from "../signer/listen.js";
import { ResidentKeys } from "../signer/resident-keys.js";
import { limitsFromEnv, serveRequests, type SignerLimits } from "../signer/server.js";
import { downloadSignature } from "./download-signature.js";

/** The name clients see in messages: the resident signer speaks as the tool it stands in for. */
const SPEAKS_AS = "signstar-download-signature";

export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;

export interface SignerInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly env: NodeJS.ProcessEnv;
  /** Where to bind without systemd (hostLayout().signerSocket(user)). */
  readonly socketPath: string;
  readonly log: LogSink;
  readonly now: () => Date;
  readonly countersDir?: string;
  /** The log writer's socket (hostLayout's, below the tool's root); default: the production path. */
  readonly logWriterSocket?: string;
  readonly limits?: SignerLimits;
  readonly idleTimeoutMs?: number;
  /** Stops accepting (SIGTERM); requests already accepted are answered. */
  readonly signal?: AbortSignal;
  /** Told once the socket listens (tests, readiness). */
  readonly onListening?: (how: "systemd" | "bound") => void;
}

export async function runSigner(input: SignerInput): Promise<number> {
  const { caller } = input;
  refuseRoot(caller);
  const { server, how } = await listenSigner({ env: input.env, path: input.socketPath, uid: caller.uid });
  const keys = new ResidentKeys();
  const failed = (error: unknown): Answer => {
    const { message, exitCode } = describeError(error);
    return { stderr: `${SPEAKS_AS}: ${message}`, code: exitCode };
  };
  const serving = serveRequests({
    server,
    limits: input.limits ?? limitsFromEnv(input.env),
    idleTimeoutMs: input.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    refuse: () => ({ stderr: `${SPEAKS_AS}: busy: too many signing requests of this user at once; try again later`, code: ExitCode.Busy }),
    internal: failed,
    handle: async ({ socket, input: stdin }) => {
      // The socket's directory is the user's own 0700, and systemd makes the socket 0600; this holds even if not.
      const peer = peerCredentials(socket);
      if (peer.uid !== caller.uid) {
        return { stderr: `${SPEAKS_AS}: this resident signer serves only ${caller.name}`, code: ExitCode.Denied };
      }
      try {
        const stdout = await downloadSignature({
          stdin,
          caller,
          config: input.config,
          now: input.now,
          log: input.log,
          keys,
          ...(input.countersDir !== undefined ? { countersDir: input.countersDir } : {}),
          ...(input.logWriterSocket !== undefined ? { logWriterSocket: input.logWriterSocket } : {}),
        });
        return { stdout, code: ExitCode.Ok };
      } catch (error) {
        return failed(error);
      }
    },
  });
  input.signal?.addEventListener("abort", () => serving.close(), { once: true });
  input.onListening?.(how);
  await serving.done;
  await keys.close();
  return ExitCode.Ok;
}
