/**
 * The signing log's key (docs/tlog.md): with `signing_log` in [system], signstar-configure makes the log's Ed25519
 * key once — a root-only file, created exclusively and atomically (lib/tlog/key-file.ts), never overwritten — and
 * keeps its public verifier key line next to it (`log.vkey`, 0644), for the tools that run as other users
 * (signstar-config, signstar-admin, the key-certificates role). A key that exists must be the configured origin's:
 * a log key is never replaced behind its verifiers' backs.
 */
import { dirname } from "node:path";
import { ExitCode } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { ensureDir } from "../os/fs.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { generateLogKeyFile, loadLogKeyFile } from "../tlog/key-file.js";
import { formatVerifierKey } from "../tlog/note.js";
import type { KeySetup } from "../config/model.js";
import { ConfigureError, act, info, type RunContext } from "./context.js";
import { crashPoint } from "./crash.js";

/** What the preconditions found: no log configured, a key to make, the existing key (its verifier key), or a token key. */
export type LogKeyState =
  | { readonly kind: "off" }
  | { readonly kind: "missing"; readonly origin: string }
  | { readonly kind: "present"; readonly verifierKey: string }
  | { readonly kind: "pkcs11"; readonly origin: string; readonly module: string; readonly token: { readonly label: string } };

/** The log key's label on its token (signing_log.pkcs11_token); reconcilePkcs11 generates it. */
export const LOG_KEY_LABEL = "signstar-log";
/** Ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN), the only key type of a C2SP signed note (https://c2sp.org/signed-note). */
export const LOG_KEY_SETUP: KeySetup = { keyType: "Curve25519", keyMechanisms: ["EdDsaSignature"], signatureType: "EdDsa", openpgp: { userIds: [], version: 4 } };

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
  if (pk.kind !== "ed25519") throw new ConfigureError(`the signing log key label:${LOG_KEY_LABEL} on token ${JSON.stringify(token.label)} is not an Ed25519 key`, ExitCode.Config);
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
 * Precondition (changes nothing): an existing key file is sound and names the configured origin; with the key on
 * a token, the token's key (when there is one) is the one log.vkey names, and there is no log.vkey without it.
 */
export async function checkLogKey(ctx: RunContext): Promise<LogKeyState> {
  const setup = ctx.config.system.signingLog;
  if (setup === undefined) return { kind: "off" };
  if (setup.pkcs11Token !== undefined) {
    const module = ctx.config.pkcs11?.module;
    if (module === undefined) throw new ConfigureError("signing_log.pkcs11_token needs a [pkcs11] section", ExitCode.Config);
    const token = { label: setup.pkcs11Token };
    const vkeyPath = hostLayout(ctx.root).signingLogVerifierKey;
    const [onToken, recorded] = [await tokenVerifierKey(module, token, setup.origin), await currentVerifierKeyFile(vkeyPath)];
    if (recorded !== undefined && onToken !== recorded) {
      throw new ConfigureError(
        `the signing log's verifier key in ${vkeyPath} is not that of the key label:${LOG_KEY_LABEL} on token ${JSON.stringify(token.label)} ` +
          `(${onToken === undefined ? "there is none" : onToken}); a log key is never replaced: move log.vkey and the log away to start a new log`,
        ExitCode.Config,
      );
    }
    return { kind: "pkcs11", origin: setup.origin, module, token };
  }
  const path = hostLayout(ctx.root).signingLogKey;
  let signer;
  try {
    signer = await loadLogKeyFile(path);
  } catch (error) {
    if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") return { kind: "missing", origin: setup.origin };
    throw error;
  }
  if (signer.name !== setup.origin) {
    throw new ConfigureError(
      `the signing log key ${path} is for origin ${JSON.stringify(signer.name)}, but signing_log's origin is ${JSON.stringify(setup.origin)}; ` +
        "a log key is never replaced: set that origin again, or move the key (and the log) away to start a new log",
      ExitCode.Config,
    );
  }
  return { kind: "present", verifierKey: signer.verifierKey };
}

/** Creates the key when it is missing, (re)writes the public verifier key file, and prints the verifier key. */
export async function ensureLogKey(ctx: RunContext, state: LogKeyState): Promise<void> {
  if (state.kind === "off") return;
  const layout = hostLayout(ctx.root);
  let verifierKey = state.kind === "present" ? state.verifierKey : undefined;
  if (state.kind === "pkcs11") {
    // reconcilePkcs11 has made the key on the token (not in a dry run before the token exists).
    verifierKey = await tokenVerifierKey(state.module, state.token, state.origin);
    if (verifierKey === undefined) info(ctx, `signing log: the key is made on token ${JSON.stringify(state.token.label)} by the run that initialises it`);
  }
  if (state.kind === "missing") {
    await act(ctx, `generate the signing log key ${layout.signingLogKey} (origin ${state.origin})`, async () => {
      await ensureDir(dirname(layout.signingLogKey), 0o755);
      verifierKey = (await generateLogKeyFile(layout.signingLogKey, state.origin)).verifierKey;
      crashPoint("log:after-key", ctx.env);
    });
  }
  if (verifierKey === undefined) return;
  const line = `${verifierKey}\n`;
  const current = await readCheckedFile(layout.signingLogVerifierKey, { what: "log verifier key file", maxBytes: 1024, owner: 0 }).then(
    (r) => r.data.toString("utf8"),
    () => undefined,
  );
  if (current !== line) {
    await act(ctx, `write the log's verifier key to ${layout.signingLogVerifierKey}`, () =>
      writeFileAtomic(layout.signingLogVerifierKey, line, { mode: 0o644, uid: 0, gid: 0 }),
    );
  }
  info(ctx, `signing log verifier key ${verifierKey}`);
}
