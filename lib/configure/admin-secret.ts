/**
 * The admin secret of a signstar-configure run: where it comes from and how a new one is kept.
 *
 * plaintext / systemd-creds: `/var/lib/signstar/creds/admin-credentials.{toml,creds}` (root 0600).
 * shamirs-secret-sharing: never stored whole. A new secret is split and staged (ShareStore: record.json is the
 * commit point) BEFORE any backend is provisioned with it, then each share is moved into its holder's download
 * spool. A run obtains the secret by combining ≥ threshold shares that are on the host: shares not yet
 * downloaded (only until the holders fetched them) plus shares uploaded in the open upload window. So a crash
 * at any point after staging can be recovered from, and once every holder downloaded its share the host holds
 * no admin secret.
 *
 * A switch of `admin_secret_handling` (plaintext ↔ systemd-creds ↔ Shamir) imports the stored secret from its
 * old form: it is proven against the backends (./preflight.ts), stored in the new form, read back, and only
 * after a successful run is the old form wiped (finishAdminSecret). A new secret is generated only when none
 * is stored in any form, and ./preflight.ts refuses that for a backend that is set up already.
 */
import { rename } from "node:fs/promises";
import { join } from "node:path";
import type { Config, SystemUserId } from "../config/model.js";
import { lookupUser, requireUser, type PasswdEntry } from "../os/accounts.js";
import { ExitCode } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import { wipeFile, wipeTree } from "../os/wipe.js";
import {
  adminCredentialsSpec,
  generateAdminCredentials,
  parseAdminCredentials,
  serializeAdminCredentials,
  type AdminCredentials,
} from "../secrets/admin-credentials.js";
import { adminCredentialsPath, readAdminCredentials, removeAdminCredentials, writeAdminCredentials } from "../secrets/admin-credentials-store.js";
import { ShareStore, type StoredShareSet } from "../secrets/share-store.js";
import { combineShares, splitSecret } from "../secrets/shares/index.js";
import { pathExists } from "../os/fs.js";
import type { VerifiedShare } from "../secrets/shares/verify.js";
import { act, ConfigureError, info, requireAdmin, type RunContext } from "./context.js";
import { crashPoint } from "./crash.js";
import {
  clearOtherSets,
  collectUploads,
  deliverShare,
  downloadState,
  ensureUploadDirs,
  publishShareStatus,
  readUndownloadedShare,
  unconfirmedHolders,
  removePublicShareSet,
  wipeAllUploads,
  writePublicShareSet,
} from "../spool/shares.js";

type StoredForm = "plaintext" | "systemd-creds" | "shamirs-secret-sharing";

export interface AdminSecretInfo {
  /** Shares were taken from the upload spool: wipe them after a successful run. */
  readonly usedUploads: boolean;
  /** Some stored admin secret exists (file or share set): never generate a new one then. */
  readonly stored: boolean;
  /** The secret is stored in another form than admin_secret_handling names (a mode switch): store it anew. */
  readonly importedFrom?: StoredForm;
}

function shareholders(config: Config): SystemUserId[] {
  return config.system.mappings.flatMap((m) => (m.kind === "share_holder" ? [m.systemUser] : []));
}

/** The root-only share store (its own upload area is not used: uploads live in lib/spool/shares.ts). */
export function shareStore(root: string): ShareStore {
  return new ShareStore({ root });
}

async function owners(users: readonly string[]): Promise<Map<string, PasswdEntry>> {
  const map = new Map<string, PasswdEntry>();
  for (const u of users) map.set(u, await requireUser(u));
  return map;
}

/**
 * Moves every share still waiting in the root-only ShareStore into its holder's spool (crash recovery of a
 * run that staged but did not finish delivering). A claim left by a crash is put back first.
 */
export async function deliverStagedShares(ctx: RunContext, set: StoredShareSet): Promise<void> {
  const store = shareStore(ctx.root);
  const setDir = join(store.stateDir, set.record.setId);
  for (const h of set.holders) {
    const claimed = join(setDir, "claimed", `${h.user}.share`);
    if (await pathExists(claimed)) await rename(claimed, join(setDir, "pending", `${h.user}.share`));
    if (!(await pathExists(join(setDir, "pending", `${h.user}.share`)))) continue;
    const owner = await requireUser(h.user);
    const claim = await store.claimStagedShare(h.user);
    crashPoint("shares:after-claim", ctx.env);
    try {
      await deliverShare(ctx.root, owner, set.record.setId, claim.share);
    } catch (error) {
      await claim.release();
      throw error;
    }
    await claim.commit(ctx.now().getTime());
    crashPoint("shares:after-deliver", ctx.env);
  }
}

/** Loads the admin secret this run can use (see module comment); sets ctx.admin. Changes nothing but share delivery. */
export async function loadAdminSecret(ctx: RunContext): Promise<AdminSecretInfo> {
  const handling = ctx.config.system.adminSecretHandling;
  const store = shareStore(ctx.root);
  if (handling.kind !== "shamirs-secret-sharing") {
    const path = adminCredentialsPath(handling.kind, ctx.root);
    if (await pathExists(path)) return readFileForm(ctx, handling.kind, undefined);
    const other = handling.kind === "plaintext" ? "systemd-creds" : "plaintext";
    if (await pathExists(adminCredentialsPath(other, ctx.root))) return readFileForm(ctx, other, other);
    const set = await store.readShareSet();
    if (set !== undefined) return { ...(await fromShares(ctx, set)), importedFrom: "shamirs-secret-sharing" };
    ctx.admin = { kind: "absent", reason: `the admin credentials file ${path} does not exist` };
    return { usedUploads: false, stored: false };
  }
  const set = await store.readShareSet();
  if (set === undefined) {
    for (const kind of ["plaintext", "systemd-creds"] as const) {
      if (await pathExists(adminCredentialsPath(kind, ctx.root))) return readFileForm(ctx, kind, kind);
    }
    ctx.admin = { kind: "absent", reason: "no share set exists on this host" };
    return { usedUploads: false, stored: false };
  }
  return fromShares(ctx, set);
}

async function readFileForm(ctx: RunContext, kind: "plaintext" | "systemd-creds", importedFrom: StoredForm | undefined): Promise<AdminSecretInfo> {
  const path = adminCredentialsPath(kind, ctx.root);
  const creds = await readAdminCredentials(kind, { root: ctx.root, ...ctx.credsOptions });
  ctx.admin = { kind: "present", creds, origin: path };
  const now = ctx.config.system.adminSecretHandling.kind;
  info(ctx, `admin credentials: read from ${path}${importedFrom !== undefined ? ` (admin_secret_handling is now ${now}: they are stored in that form, and ${path} is wiped after a successful run)` : ""}`);
  return { usedUploads: false, stored: true, ...(importedFrom !== undefined ? { importedFrom } : {}) };
}

/** Combines ≥ threshold shares present on the host (undownloaded, uploaded); a dry run only reads. */
async function fromShares(ctx: RunContext, set: StoredShareSet): Promise<AdminSecretInfo> {
  if (!ctx.dryRun) await deliverStagedShares(ctx, set);
  const holderOwners = await owners(set.holders.map((h) => h.user));
  const byIndex = new Map<number, VerifiedShare>();
  let undownloaded = 0;
  for (const h of set.holders) {
    const s = await readUndownloadedShare(ctx.root, holderOwners.get(h.user)!, set);
    if (s !== undefined) {
      byIndex.set(s.index, s);
      undownloaded++;
    }
  }
  const uploads = await collectUploads(ctx.root, set, holderOwners, ctx.now().getTime(), undefined, { readOnly: ctx.dryRun });
  const wiped = ctx.dryRun ? "would be wiped" : "was wiped";
  for (const u of uploads.rejected) info(ctx, `the upload of ${u} was not a valid share of theirs and ${wiped}`);
  if (uploads.expired > 0) info(ctx, `${uploads.expired} expired upload(s) ${ctx.dryRun ? "would be wiped" : "were wiped"}`);
  let fromUploads = 0;
  for (const s of uploads.shares) {
    if (!byIndex.has(s.index)) fromUploads++;
    byIndex.set(s.index, s);
  }
  const id = set.record.setId;
  if (byIndex.size < set.record.threshold) {
    ctx.admin = {
      kind: "absent",
      reason: `only ${byIndex.size} of the ${set.record.threshold} required shares of set ${id} are present (upload them with signstar-upload-secret-share)`,
    };
    return { usedUploads: false, stored: true };
  }
  const bytes = combineShares([...byIndex.values()], set.record);
  let creds: AdminCredentials;
  try {
    creds = parseAdminCredentials(Buffer.from(bytes).toString("utf8"), `share set ${id}`);
  } finally {
    bytes.fill(0);
  }
  ctx.admin = { kind: "present", creds, origin: `share set ${id}` };
  info(ctx, `admin credentials: combined from ${byIndex.size} shares of set ${id} (${undownloaded} not yet downloaded, ${fromUploads} uploaded)`);
  return { usedUploads: uploads.shares.length > 0, stored: true };
}

function sameHolders(set: StoredShareSet, holders: readonly string[]): boolean {
  return set.holders.length === holders.length && set.holders.every((h) => holders[h.index - 1] === h.user);
}

/**
 * Makes sure the stored admin secret is what the config needs: generates one when none is stored, adds
 * credentials for new administrators/tokens (keeping existing ones), follows `iteration`, and re-splits when
 * the shareholders or the threshold changed. A new or changed secret is stored before anything uses it.
 */
export async function ensureAdminSecret(ctx: RunContext, loaded: AdminSecretInfo): Promise<void> {
  const spec = adminCredentialsSpec(ctx.config);
  const handling = ctx.config.system.adminSecretHandling;
  const current = ctx.admin.kind === "present" ? ctx.admin.creds : undefined;
  if (current === undefined && loaded.stored) {
    // Not available this run: fine unless the stored secret must change (steps that need it say so).
    if (loaded.importedFrom !== undefined) {
      requireAdmin(ctx, `storing the admin secret as admin_secret_handling now says (${handling.kind}; it is stored as ${loaded.importedFrom})`);
    }
    if (handling.kind === "shamirs-secret-sharing") {
      const set = await shareStore(ctx.root).readShareSet();
      const holders = shareholders(ctx.config);
      if (set !== undefined && set.record.iteration !== ctx.config.system.iteration) {
        requireAdmin(ctx, `applying config iteration ${ctx.config.system.iteration} (the share set is for iteration ${set.record.iteration} and must be re-split)`);
      }
      if (set !== undefined && (set.record.threshold !== handling.threshold || !sameHolders(set, holders))) {
        requireAdmin(ctx, "re-splitting the admin credentials for the changed shareholders or threshold");
      }
    }
    return;
  }
  const desired = generateAdminCredentials(spec, current);
  const changed = current === undefined || serializeAdminCredentials(desired) !== serializeAdminCredentials(current);
  const what = current === undefined ? "generate admin credentials" : loaded.importedFrom !== undefined ? `store the admin credentials (now ${handling.kind}; were ${loaded.importedFrom})` : "update admin credentials";
  if (handling.kind !== "shamirs-secret-sharing") {
    if (changed || loaded.importedFrom !== undefined) {
      await act(ctx, what, async () => {
        await writeAdminCredentials(desired, handling.kind, { root: ctx.root, ...ctx.credsOptions });
        const back = await readAdminCredentials(handling.kind, { root: ctx.root, ...ctx.credsOptions });
        if (serializeAdminCredentials(back) !== serializeAdminCredentials(desired)) {
          throw new ConfigureError(`the admin credentials read back from ${adminCredentialsPath(handling.kind, ctx.root)} differ from those written; nothing else was changed`, ExitCode.Secret);
        }
      });
    }
    ctx.admin = { kind: "present", creds: desired, origin: ctx.admin.kind === "present" ? ctx.admin.origin : "generated" };
    return;
  }
  const holders = shareholders(ctx.config);
  const set = await shareStore(ctx.root).readShareSet();
  const resplit =
    changed ||
    set === undefined ||
    set.record.threshold !== handling.threshold ||
    set.record.shares !== handling.numberOfShares ||
    !sameHolders(set, holders);
  if (resplit) {
    await act(ctx, `${what}, split them into ${handling.numberOfShares} shares (threshold ${handling.threshold}) for ${holders.join(", ")}`, async () => {
      await stageNewShareSet(ctx, desired, holders, handling.threshold);
    });
  } else if (!ctx.dryRun) {
    await publishShareSet(ctx, set);
  }
  ctx.admin = { kind: "present", creds: desired, origin: ctx.admin.kind === "present" ? ctx.admin.origin : "generated" };
}

async function stageNewShareSet(ctx: RunContext, creds: AdminCredentials, holders: readonly string[], threshold: number): Promise<void> {
  const text = Buffer.from(serializeAdminCredentials(creds), "utf8");
  const split = splitSecret(text, { threshold, shares: holders.length, iteration: creds.iteration, now: ctx.now() });
  text.fill(0);
  const store = shareStore(ctx.root);
  await store.stageShares(
    split.record,
    holders.map((user, i) => ({ user, share: split.shares[i]! })),
  );
  crashPoint("admin:after-stage", ctx.env);
  const set = await store.loadShareSet();
  await deliverStagedShares(ctx, set);
  await proveStagedSet(ctx, set, creds);
  const wiped = await wipeAllUploads(ctx.root); // uploads of the previous set can never be used again
  if (wiped > 0) info(ctx, `wiped ${wiped} uploaded share(s) of the replaced share set`);
  await publishShareSet(ctx, set);
}

/** The staged set, read back from the holders' spools, combines to `creds` (else nothing older is wiped). */
async function proveStagedSet(ctx: RunContext, set: StoredShareSet, creds: AdminCredentials): Promise<void> {
  const shares: VerifiedShare[] = [];
  for (const h of set.holders) {
    const s = await readUndownloadedShare(ctx.root, await requireUser(h.user), set);
    if (s !== undefined) shares.push(s);
  }
  let same = false;
  if (shares.length >= set.record.threshold) {
    const bytes = combineShares(shares.slice(0, set.record.threshold), set.record);
    same = Buffer.from(bytes).equals(Buffer.from(serializeAdminCredentials(creds), "utf8"));
    bytes.fill(0);
  }
  if (!same) {
    throw new ConfigureError(`the shares of set ${set.record.setId} read back from the holders' spools do not combine to the admin credentials; the previous form is kept`, ExitCode.Secret);
  }
}

/** Public set file, upload directories and holder spools match the current set. */
async function publishShareSet(ctx: RunContext, set: StoredShareSet): Promise<void> {
  const holderOwners = await owners(set.holders.map((h) => h.user));
  await writePublicShareSet(ctx.root, set);
  await ensureUploadDirs(ctx.root, [...holderOwners.values()]);
  for (const o of holderOwners.values()) {
    const state = await downloadState(ctx.root, o.name, set.record.setId);
    if (state !== "missing") await clearOtherSets(ctx.root, o, set.record.setId);
  }
}

/** After a successful run: wipe used uploads; with SSS, drop any whole copy of the admin secret. */
export async function finishAdminSecret(ctx: RunContext, loaded: AdminSecretInfo): Promise<void> {
  const handling = ctx.config.system.adminSecretHandling;
  if (handling.kind === "shamirs-secret-sharing") {
    await removeAdminCredentials({ root: ctx.root });
    if (loaded.usedUploads) {
      crashPoint("uploads:before-wipe", ctx.env);
      const n = await wipeAllUploads(ctx.root);
      if (n > 0) info(ctx, `wiped ${n} uploaded share(s) after use`);
    }
    const set = await shareStore(ctx.root).readShareSet();
    if (set !== undefined) {
      const states = await Promise.all(set.holders.map(async (h) => `${h.user}: ${await downloadState(ctx.root, h.user, set.record.setId)}`));
      info(ctx, `share set ${set.record.setId} (${set.record.threshold}-of-${set.record.shares}): ${states.join(", ")}`);
      const { status, warning } = await publishShareStatus(ctx.root, set, ctx.now());
      const open = unconfirmedHolders(status);
      if (open.length > 0) info(ctx, `unconfirmed shareholders (their shares are on this host until they confirm; deadline ${status.deadline}): ${open.join(", ")}`);
      if (warning !== undefined) ctx.warn(warning);
    }
  } else {
    await removePublicShareSet(ctx.root);
    if (loaded.importedFrom === "plaintext" || loaded.importedFrom === "systemd-creds") {
      await wipeFile(adminCredentialsPath(loaded.importedFrom, ctx.root));
      info(ctx, `wiped ${adminCredentialsPath(loaded.importedFrom, ctx.root)} (the admin credentials are stored as ${handling.kind} now)`);
    } else if (loaded.importedFrom === "shamirs-secret-sharing") {
      await retireShareSet(ctx);
    }
  }
}

/** After a switch away from Shamir: the share store, the holders' spools and the uploads of the old set go. */
async function retireShareSet(ctx: RunContext): Promise<void> {
  const set = await shareStore(ctx.root).readShareSet();
  if (set !== undefined) {
    for (const h of set.holders) {
      const owner = await lookupUser(h.user);
      if (owner !== undefined) await clearOtherSets(ctx.root, owner);
    }
  }
  await wipeAllUploads(ctx.root);
  await wipeTree(hostLayout(ctx.root).shareStoreDir);
  info(ctx, `retired share set ${set?.record.setId ?? "(none)"}: the admin credentials are stored as ${ctx.config.system.adminSecretHandling.kind} now`);
}
