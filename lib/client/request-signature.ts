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
import { basename } from "node:path";
import { hashFile } from "../signing/file-hasher.js";
import { clientOptionalFields, createSigningRequest } from "../signing/request.js";
import { MAX_RESPONSE_BYTES, parseSigningResponse } from "../signing/response.js";
import { dearmor } from "../signing/openpgp/armor.js";
import type { Sha512State } from "../signing/sha512-state.js";
import { SignstarError } from "../errors.js";
import { ClientUsageError, HostKeyError, InvalidResponseError } from "./errors.js";
import { agentAuth, loadIdentity, type SshAuth } from "./identity.js";
import { entriesForHost, knownHostName, readKnownHosts } from "./known-hosts.js";
import { checkOutputPath, defaultOutputPath, writeOutputAtomically } from "./output-file.js";
import { checkSignatureForState, type SignatureInfo } from "./signature-check.js";
import { runRemoteCommand } from "./ssh-transport.js";

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

function validate(opts: SendOptions): { port: number } {
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

export async function sendSigningRequest(opts: SendOptions): Promise<SendResult> {
  const { port } = validate(opts);
  const armored = opts.armor === true;
  const force = opts.force === true;
  const output = opts.output ?? defaultOutputPath(opts.file, armored);

  // Local checks first: nothing is hashed or sent while any of them fails.
  const knownHosts = await readKnownHosts(opts.knownHostsPath);
  if (!entriesForHost(knownHosts.entries, opts.host, port).some((e) => e.marker === null)) {
    const skipped = knownHosts.skipped.length > 0 ? ` (${knownHosts.skipped.length} malformed lines skipped)` : "";
    throw new HostKeyError("unknown", `host ${knownHostName(opts.host, port)} has no entry in ${opts.knownHostsPath}${skipped}`);
  }
  const auth: SshAuth =
    opts.identity !== undefined
      ? await loadIdentity(opts.identity)
      : await agentAuth(typeof opts.agent === "string" ? opts.agent : undefined, opts.env ?? process.env);
  await checkOutputPath(output, opts.file, force);

  const { state, json } = await hashedRequest(opts.file, opts);
  opts.signal?.throwIfAborted();

  const { stdout, stderr } = await runRemoteCommand({
    host: opts.host,
    port,
    user: opts.user,
    auth,
    knownHosts: knownHosts.entries,
    knownHostsPath: opts.knownHostsPath,
    input: Buffer.from(json, "utf8"),
    maxStdoutBytes: opts.maxResponseBytes ?? MAX_RESPONSE_BYTES,
    ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

  const response = parseSigningResponse(stdout);
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
  opts.signal?.throwIfAborted();
  await writeOutputAtomically(output, data, force);
  return { output, armored, response, signature, remoteNotice: stderr };
}
