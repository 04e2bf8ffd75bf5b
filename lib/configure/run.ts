/**
 * signstar-configure: brings the backends in line with the config (the staged flow of Signstar's `resources/docs/design.md`, archlinux/signstar d6ad4e9).
 *
 *   1. load the config and the last applied iteration (`/var/lib/signstar/configure/state.json`);
 *   2. admin secret: read it (file), or combine ≥ threshold shares present on the host (not yet downloaded,
 *      or uploaded in the open window); none stored at all → generate one; a new/changed one is stored
 *      (file, or split + staged for the shareholders) BEFORE any backend uses it;
 *   3. reconcile each backend (./pkcs11-reconcile.ts, ./nethsm-reconcile.ts), rotating every non-admin secret
 *      crash-safely (./secret-rotation.ts);
 *   4. the signing log's key, when `signing_log` is set (./signing-log.ts);
 *   5. wipe used uploads (SSS) and record the applied iteration; NetHSM: take a backup.
 * `dryRun` observes but changes nothing and prints `plan:` lines. Steps that need the admin secret when it is
 * not available fail with a message saying what needed it and how many shares are missing.
 */
import { dirname } from "node:path";
import { loadConfig, type ConfigLocation } from "../config/load.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { ensureDir } from "../os/fs.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import type { CredsOptions } from "../secrets/systemd-creds.js";
import { ensureAdminSecret, finishAdminSecret, loadAdminSecret, retirePreviousSet } from "./admin-secret.js";
import { info, requireAdmin, type RunContext } from "./context.js";
import { crashPoint } from "./crash.js";
import { hostLayout } from "../layout/host-layout.js";
import { reconcilePkcs11, requireAdminForPkcs11 } from "./pkcs11-reconcile.js";
import { checkPreconditions, proveAdminSecret } from "./preflight.js";
import { checkLogKey, ensureLogKey } from "./signing-log.js";
import { keepP11KitTokenStore } from "./token-access.js";
import { wipeExpiredUploads, ensureUploadDirs, publishShareStatus } from "../spool/shares.js";

export interface ConfigureOptions {
  readonly config: ConfigLocation;
  readonly root?: string;
  readonly dryRun?: boolean;
  readonly now?: () => Date;
  readonly out: (line: string) => void;
  /** Loud warnings (default: stderr). */
  readonly warn?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
  readonly credsOptions?: CredsOptions;
}

interface ConfigureState {
  readonly iteration: number;
  readonly appliedAt: string;
}

async function readState(root: string): Promise<ConfigureState | undefined> {
  const path = hostLayout(root).configureState;
  try {
    const { data } = await readCheckedFile(path, { what: "configure state", maxBytes: 4096, owner: 0 });
    const doc = JSON.parse(data.toString("utf8")) as { iteration?: unknown; appliedAt?: unknown };
    if (typeof doc.iteration !== "number" || typeof doc.appliedAt !== "string") return undefined;
    return { iteration: doc.iteration, appliedAt: doc.appliedAt };
  } catch (error) {
    // Missing, unsafe or unreadable state is "first run"; an unexpected failure to open it is not.
    if (error instanceof SyntaxError) return undefined;
    if (error instanceof FileReadError && (error.problem.kind !== "open" || error.problem.code === "ENOENT" || error.problem.code === "ELOOP")) return undefined;
    throw error;
  }
}

async function writeState(root: string, state: ConfigureState): Promise<void> {
  const path = hostLayout(root).configureState;
  await ensureDir(dirname(path), 0o700);
  await writeFileAtomic(path, `${JSON.stringify(state)}\n`, { mode: 0o600, uid: 0, gid: 0 });
}

export async function configure(opts: ConfigureOptions): Promise<void> {
  const root = opts.root ?? "/";
  // --root confines every path, the configuration's default locations included (as configure-build's does).
  const { config, path } = await loadConfig({ ...opts.config, root });
  const previous = await readState(root);
  const ctx: RunContext = {
    config,
    root,
    dryRun: opts.dryRun ?? false,
    now: opts.now ?? (() => new Date()),
    out: opts.out,
    warn: opts.warn ?? ((line) => void process.stderr.write(`signstar-configure: ${line}\n`)),
    env: opts.env ?? process.env,
    credsOptions: opts.credsOptions ?? {},
    iterationIncreased: previous !== undefined && config.system.iteration > previous.iteration,
    admin: { kind: "absent", reason: "not loaded" },
  };
  info(ctx, `config ${path}, iteration ${config.system.iteration}${previous ? ` (last applied: ${previous.iteration})` : " (first run)"}${ctx.dryRun ? ", dry run" : ""}`);
  // 0. Through p11-kit, the token is opened by the server's user: give it the SoftHSM store first (the token would
  //    look absent otherwise).
  if (config.pkcs11 !== undefined) await keepP11KitTokenStore(ctx, config.pkcs11.module);
  // 1. Preconditions that need no secret (users, module, tokens, NetHSM): nothing has changed when one fails.
  const facts = await checkPreconditions(ctx);
  const logKey = await checkLogKey(ctx);
  // 2. The admin secret: loaded (or absent), proven against every backend already set up, and every step that
  //    will need it checked now, so that a run without it fails before it rotates a PIN or spends a share.
  const loaded = await loadAdminSecret(ctx);
  await proveAdminSecret(ctx, facts, loaded);
  if (loaded.stored) {
    // (With nothing stored a new secret is generated below; proveAdminSecret made sure no backend is set up.)
    await requireAdminForPkcs11(ctx);
    if (config.nethsm !== undefined && !(ctx.dryRun && facts.nethsmState !== "Operational")) requireAdmin(ctx, "reconciling the NetHSM users and keys");
  }
  // 3. Irreversible from here: a new form of the admin secret is stored (and read back) before any backend uses it.
  await ensureAdminSecret(ctx, loaded);
  await reconcilePkcs11(ctx);
  // Loaded only for a configuration with a NetHSM: a PKCS#11-only host never loads the HTTPS client.
  const nethsm = config.nethsm !== undefined ? await import("./nethsm-reconcile.js") : undefined;
  const reconciled = nethsm ? await nethsm.reconcileNetHsm(ctx) : undefined;
  // The signing log's key: made once, never replaced (./signing-log.ts); on a NetHSM, reconcileNetHsm made it.
  await ensureLogKey(ctx, logKey, reconciled?.logVerifierKey);
  if (ctx.dryRun) return;
  await finishAdminSecret(ctx, loaded);
  crashPoint("state:before-save", ctx.env);
  if (previous?.iteration !== config.system.iteration) {
    await writeState(root, { iteration: config.system.iteration, appliedAt: ctx.now().toISOString() });
  }
  if (nethsm && reconciled) await nethsm.backupNetHsm(ctx, reconciled);
  // Applied uploads (restored backup, committed update) go only now: a run killed before re-applies them.
  for (const u of reconciled?.applied ?? []) await u.consume();
  info(ctx, "configuration applied");
}

/** For the systemd timer: wipe expired (or stale) uploaded shares and keep the upload directories in place. */
export async function wipeExpiredShares(opts: { root?: string; now?: () => Date; out: (line: string) => void; warn?: (line: string) => void }): Promise<number> {
  const root = opts.root ?? "/";
  // The previous share set goes once a threshold of the current set's holders confirmed (docs/shares.md).
  const set = await retirePreviousSet(root, opts.out);
  const now = (opts.now ?? (() => new Date()))();
  const n = await wipeExpiredUploads(root, set, now.getTime());
  if (set !== undefined) {
    // Every minute: the metrics see who has not confirmed, and the journal gets the warning after the deadline.
    const { warning } = await publishShareStatus(root, set, now);
    if (warning !== undefined) (opts.warn ?? ((line: string) => void process.stderr.write(`signstar-configure: ${line}\n`)))(warning);
  }
  if (set !== undefined) {
    const { requireUser } = await import("../os/accounts.js");
    const owners = [];
    for (const h of set.holders) owners.push(await requireUser(h.user));
    await ensureUploadDirs(root, owners);
  }
  if (n > 0) opts.out(`wiped ${n} expired or stale uploaded share file(s)`);
  return n;
}
