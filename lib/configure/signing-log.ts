/**
 * The signing log's key (docs/tlog.md, "Where the log key lives"). With `signing_log` in [system], signstar-configure
 * makes the log's Ed25519 key once and never replaces it: a root-only file, created exclusively and atomically
 * (lib/tlog/key-file.ts), or a key on a dedicated PKCS#11 token (./pkcs11-reconcile.ts generates it) or on the
 * NetHSM (./nethsm-reconcile.ts). Its public verifier key line is kept next to the log (`log.vkey`, 0644) for the
 * tools that run as other users (signstar-config, signstar-admin, the key-certificates role). An existing log.vkey
 * must name the key that is there: a log key is never replaced behind its verifiers' backs.
 */
import { dirname } from "node:path";
import { ExitCode } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { ensureDir } from "../os/fs.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { generateLogKeyFile, loadLogKeyFile } from "../tlog/key-file.js";
import { formatVerifierKey } from "../tlog/note.js";
import { LOG_KEY_LABEL, logKeyName, type LogKeyPlace } from "../config/model.js";
import { ConfigureError, act, info, type RunContext } from "./context.js";
import { crashPoint } from "./crash.js";

/** What the preconditions found: no log configured, a key file to make, the existing key file, or a key on a backend. */
export type LogKeyState =
  | { readonly kind: "off" }
  | { readonly kind: "missing"; readonly origin: string }
  | { readonly kind: "present"; readonly verifierKey: string }
  | { readonly kind: "pkcs11"; readonly origin: string; readonly module: string; readonly token: { readonly label: string } }
  /** Checked and made by ./nethsm-reconcile.ts, which holds the administrator's client. */
  | { readonly kind: "nethsm"; readonly origin: string };

/** The verifier key of the log key on its token (public objects need no login), or undefined when there is none yet. */
async function tokenVerifierKey(module: string, token: { readonly label: string }, origin: string): Promise<string | undefined> {
  const p11 = await import("../backends/pkcs11/index.js");
  if (!p11.pkcs11TokenPresent(module, token)) return undefined;
  let pk;
  try {
    pk = p11.readPublicKeyAndCertificate(module, token, { label: LOG_KEY_LABEL }).publicKey;
  } catch (error) {
    if (error instanceof p11.Pkcs11KeyNotFoundError) return undefined;
    throw error;
  }
  if (pk.kind !== "ed25519") throw new ConfigureError(`the signing log ${logKeyName({ kind: "pkcs11", token: token.label })} is not an Ed25519 key`, ExitCode.Config);
  return formatVerifierKey(origin, pk.a);
}

async function currentVerifierKeyFile(path: string): Promise<string | undefined> {
  return readCheckedFile(path, { what: "log verifier key file", maxBytes: 1024, owner: 0 }).then(
    (r) => r.data.toString("utf8").replace(/\n$/, ""),
    (error: unknown) => {
      if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") return undefined;
      throw error;
    },
  );
}

/**
 * The key on a backend (`found`: its verifier key, undefined when there is none yet) must be the one log.vkey
 * names, and there is no log.vkey without it: otherwise one line, exit 4, before anything changes the key.
 */
export async function checkRecordedVerifierKey(ctx: RunContext, place: Exclude<LogKeyPlace, { kind: "file" }>, found: string | undefined): Promise<void> {
  const vkeyPath = hostLayout(ctx.root).signingLogVerifierKey;
  const recorded = await currentVerifierKeyFile(vkeyPath);
  if (recorded !== undefined && found !== recorded) {
    throw new ConfigureError(
      `the signing log's verifier key in ${vkeyPath} is not that of the ${logKeyName(place)} (${found === undefined ? "there is none" : found}); ` +
        "a log key is never replaced: move log.vkey and the log away to start a new log",
      ExitCode.Config,
    );
  }
}

/**
 * Precondition (changes nothing): an existing key file is sound and names the configured origin; with the key on
 * a token, the token's key (when there is one) is the one log.vkey names. (On a NetHSM the same check runs in
 * ./nethsm-reconcile.ts once the device is reachable with an administrator, before it generates keys.)
 */
export async function checkLogKey(ctx: RunContext): Promise<LogKeyState> {
  const setup = ctx.config.system.signingLog;
  if (setup === undefined) return { kind: "off" };
  const place = setup.key;
  if (place.kind === "nethsm") return { kind: "nethsm", origin: setup.origin };
  if (place.kind === "pkcs11") {
    const module = ctx.config.pkcs11?.module;
    if (module === undefined) throw new ConfigureError("signing_log.pkcs11_token needs a [pkcs11] section", ExitCode.Config);
    const token = { label: place.token };
    await checkRecordedVerifierKey(ctx, place, await tokenVerifierKey(module, token, setup.origin));
    return { kind: "pkcs11", origin: setup.origin, module, token };
  }
  const layout = hostLayout(ctx.root);
  const path = layout.signingLogKey;
  const recorded = await currentVerifierKeyFile(layout.signingLogVerifierKey);
  let signer;
  try {
    signer = await loadLogKeyFile(path);
  } catch (error) {
    if (!(error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT")) throw error;
    if (recorded === undefined) return { kind: "missing", origin: setup.origin };
    // A log whose key is gone (or lived on a token or the NetHSM) is not continued with a new key file.
    throw new ConfigureError(
      `the signing log's verifier key in ${layout.signingLogVerifierKey} names a key, but ${path} does not exist (lost, or the key lives on a token or the NetHSM: ` +
        "set signing_log to where it lives); a log key is never replaced: move log.vkey and the log away to start a new log",
      ExitCode.Config,
    );
  }
  if (signer.name !== setup.origin) {
    throw new ConfigureError(
      `the signing log key ${path} is for origin ${JSON.stringify(signer.name)}, but signing_log's origin is ${JSON.stringify(setup.origin)}; ` +
        "a log key is never replaced: set that origin again, or move the key (and the log) away to start a new log",
      ExitCode.Config,
    );
  }
  if (recorded !== undefined && recorded !== signer.verifierKey) {
    throw new ConfigureError(
      `the signing log's verifier key in ${layout.signingLogVerifierKey} is not that of ${path} (${signer.verifierKey}); a log key is never replaced: ` +
        "move log.vkey and the log away to start a new log",
      ExitCode.Config,
    );
  }
  return { kind: "present", verifierKey: signer.verifierKey };
}

/**
 * Creates the key file when it is missing, (re)writes the public verifier key file, and prints the verifier key.
 * `netHsmVerifierKey`: the NetHSM log key's, as ./nethsm-reconcile.ts read it after making it.
 */
export async function ensureLogKey(ctx: RunContext, state: LogKeyState, netHsmVerifierKey?: string): Promise<void> {
  if (state.kind === "off") return;
  const layout = hostLayout(ctx.root);
  let verifierKey = state.kind === "present" ? state.verifierKey : state.kind === "nethsm" ? netHsmVerifierKey : undefined;
  if (state.kind === "pkcs11") {
    // reconcilePkcs11 has made the key on the token (not in a dry run before the token exists).
    verifierKey = await tokenVerifierKey(state.module, state.token, state.origin);
    if (verifierKey === undefined) info(ctx, `signing log: the key is made on token ${JSON.stringify(state.token.label)} by the run that initialises it`);
  }
  if (state.kind === "nethsm" && verifierKey === undefined) info(ctx, "signing log: the key is made on the NetHSM by the run that sets it up");
  if (state.kind === "missing") {
    await act(ctx, `generate the signing log key ${layout.signingLogKey} (origin ${state.origin})`, async () => {
      await ensureDir(dirname(layout.signingLogKey), 0o755);
      verifierKey = (await generateLogKeyFile(layout.signingLogKey, state.origin)).verifierKey;
      crashPoint("log:after-key", ctx.env);
    });
  }
  if (verifierKey === undefined) return;
  const line = `${verifierKey}\n`;
  const current = await currentVerifierKeyFile(layout.signingLogVerifierKey).catch(() => undefined);
  if (current === undefined || `${current}\n` !== line) {
    await act(ctx, `write the log's verifier key to ${layout.signingLogVerifierKey}`, () =>
      writeFileAtomic(layout.signingLogVerifierKey, line, { mode: 0o644, uid: 0, gid: 0 }),
    );
  }
  info(ctx, `signing log verifier key ${verifierKey}`);
}
