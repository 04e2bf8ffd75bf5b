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
import { ConfigureError, act, info, type RunContext } from "./context.js";
import { crashPoint } from "./crash.js";

/** What the preconditions found: no log configured, a key to make, or the existing key (its verifier key). */
export type LogKeyState = { readonly kind: "off" } | { readonly kind: "missing"; readonly origin: string } | { readonly kind: "present"; readonly verifierKey: string };

/** Precondition (changes nothing): an existing key file is sound and names the configured origin. */
export async function checkLogKey(ctx: RunContext): Promise<LogKeyState> {
  const setup = ctx.config.system.signingLog;
  if (setup === undefined) return { kind: "off" };
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
