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
 * Staged shares are sealed on disk under keys that live in tmpfs only (lib/secrets/share-seal.ts), so a reboot
 * before a holder downloaded loses that share. Staging therefore keeps the previous set's record until a threshold
 * of the new set's holders confirmed their shares (`previous` in the ShareStore): when the new set cannot reach
 * its threshold any more, a run combines the previous set instead (from its holders' uploads) and splits anew.
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
import { removeShareKeys, shareKeyExists } from "../secrets/share-seal.js";
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
  /** The secret came from the previous share set (the current one lost shares): split it anew. */
  readonly fromPrevious?: boolean;
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
    if (!(await shareKeyExists(ctx.root, { setId: set.record.setId, user: h.user }))) {
      // Sealed under a key that went with a reboot: it can never be opened (docs/shares.md).
      info(ctx, `the staged share of ${h.user} in set ${set.record.setId} was lost with /run (the host restarted before it was delivered)`);
      continue;
    }
    const owner = await requireUser(h.user);
    const claim = await store.claimStagedShare(h.user);
    crashPoint("shares:after-claim", ctx.env);
    try {
      await deliverShare(ctx.root, owner, set.record.setId, claim.share, set.previous?.record.setId);
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
  const lost = await lostHolders(ctx, set);
  if (lost.length > 0) {
    info(ctx, `the undownloaded shares of ${lost.join(", ")} in set ${id} were lost with /run (the host restarted before they were downloaded; docs/shares.md)`);
  }
  if (byIndex.size < set.record.threshold) {
    if (set.previous !== undefined) {
      const fallback = await fromPreviousSet(ctx, set.previous, holderOwners, uploads.previousShares);
      if (fallback !== undefined) return fallback;
    }
    const why = lost.length > 0 ? `; the undownloaded shares of ${lost.join(", ")} were lost with /run (docs/shares.md)` : "";
    const prev = set.previous !== undefined ? ` (or ${set.previous.record.threshold} of the previous set ${set.previous.record.setId}, kept until this one is confirmed)` : "";
    ctx.admin = {
      kind: "absent",
      reason: `only ${byIndex.size} of the ${set.record.threshold} required shares of set ${id} are present${prev} (upload them with signstar-upload-secret-share)${why}`,
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
  // Uploads of the previous set are not needed when the current set combines: wiped after the run too.
  return { usedUploads: uploads.shares.length + uploads.previousShares.length > 0, stored: true };
}

/** Holders of `set` whose share is on the host (not confirmed) but whose key is gone: lost with a reboot. */
async function lostHolders(ctx: RunContext, set: StoredShareSet): Promise<string[]> {
  const lost: string[] = [];
  for (const h of set.holders) {
    const state = await downloadState(ctx.root, h.user, set.record.setId);
    if ((state === "pending" || state === "claimed") && !(await shareKeyExists(ctx.root, { setId: set.record.setId, user: h.user }))) lost.push(h.user);
  }
  return lost;
}

/**
 * The previous set, kept until the current one is confirmed: its undownloaded shares (sealed, while their keys
 * last) and its holders' uploads. Undefined when they do not reach its threshold either.
 */
async function fromPreviousSet(
  ctx: RunContext,
  previous: StoredShareSet,
  holderOwners: ReadonlyMap<string, PasswdEntry>,
  uploaded: readonly VerifiedShare[],
): Promise<AdminSecretInfo | undefined> {
  const byIndex = new Map<number, VerifiedShare>();
  for (const h of previous.holders) {
    const owner = holderOwners.get(h.user) ?? (await lookupUser(h.user));
    if (owner === undefined) continue;
    const s = await readUndownloadedShare(ctx.root, owner, previous);
    if (s !== undefined) byIndex.set(s.index, s);
  }
  for (const s of uploaded) byIndex.set(s.index, s);
  if (byIndex.size < previous.record.threshold) return undefined;
  const id = previous.record.setId;
  const bytes = combineShares([...byIndex.values()], previous.record);
  let creds: AdminCredentials;
  try {
    creds = parseAdminCredentials(Buffer.from(bytes).toString("utf8"), `share set ${id}`);
  } finally {
    bytes.fill(0);
  }
  ctx.admin = { kind: "present", creds, origin: `previous share set ${id}` };
  info(ctx, `admin credentials: combined from ${byIndex.size} shares of the previous set ${id} (the current set cannot reach its threshold; it is split anew)`);
  return { usedUploads: uploaded.length > 0, stored: true, fromPrevious: true };
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
    loaded.fromPrevious === true ||
    set === undefined ||
    set.record.threshold !== handling.threshold ||
    set.record.shares !== handling.numberOfShares ||
    !sameHolders(set, holders);
  if (resplit) {
    await act(ctx, `${what}, split them into ${handling.numberOfShares} shares (threshold ${handling.threshold}) for ${holders.join(", ")}`, async () => {
      await stageNewShareSet(ctx, desired, holders, handling.threshold, set);
    });
  } else if (!ctx.dryRun) {
    await publishShareSet(ctx, set);
  }
  ctx.admin = { kind: "present", creds: desired, origin: ctx.admin.kind === "present" ? ctx.admin.origin : "generated" };
}

/**
 * The set to keep as `previous` when `current` is replaced: `current` once a threshold of its holders confirmed
 * (they hold it off the host), else the set `current` itself replaced (still the one its holders have), else
 * `current` (the best there is).
 */
async function setToKeep(root: string, current: StoredShareSet | undefined): Promise<StoredShareSet | undefined> {
  if (current === undefined) return undefined;
  if ((await confirmedCount(root, current)) >= current.record.threshold) return { record: current.record, holders: current.holders };
  return current.previous ?? { record: current.record, holders: current.holders };
}

async function confirmedCount(root: string, set: StoredShareSet): Promise<number> {
  let n = 0;
  for (const h of set.holders) if ((await downloadState(root, h.user, set.record.setId)) === "fetched") n++;
  return n;
}

async function stageNewShareSet(ctx: RunContext, creds: AdminCredentials, holders: readonly string[], threshold: number, current: StoredShareSet | undefined): Promise<void> {
  const text = Buffer.from(serializeAdminCredentials(creds), "utf8");
  const split = splitSecret(text, { threshold, shares: holders.length, iteration: creds.iteration, now: ctx.now() });
  text.fill(0);
  const store = shareStore(ctx.root);
  const assignments = [];
  for (const [i, user] of holders.entries()) assignments.push({ user, gid: (await requireUser(user)).gid, share: split.shares[i]! });
  await store.stageShares(split.record, assignments, await setToKeep(ctx.root, current));
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
  const keep = [set.record.setId, ...(set.previous !== undefined ? [set.previous.record.setId] : [])];
  for (const o of holderOwners.values()) {
    const state = await downloadState(ctx.root, o.name, set.record.setId);
    if (state !== "missing") await clearOtherSets(ctx.root, o, keep);
  }
  await removeShareKeys(ctx.root, keep);
}

/**
 * Once a threshold of the current set's holders confirmed, the previous set is forgotten: its record, its
 * holders' spool files, its keys. Run by every configure run and by the share-wipe timer.
 */
export async function retirePreviousSet(root: string, out: (line: string) => void): Promise<StoredShareSet | undefined> {
  const store = shareStore(root);
  const set = await store.readShareSet();
  if (set?.previous === undefined || (await confirmedCount(root, set)) < set.record.threshold) return set;
  const previous = await store.dropPreviousSet();
  const current = { record: set.record, holders: set.holders };
  await writePublicShareSet(root, current);
  for (const h of previous?.holders ?? []) {
    const owner = await lookupUser(h.user);
    if (owner !== undefined) await clearOtherSets(root, owner, set.record.setId);
  }
  await removeShareKeys(root, [set.record.setId]);
  out(`retired the previous share set ${set.previous.record.setId}: ${set.record.threshold} holders of set ${set.record.setId} confirmed their shares`);
  return current;
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
    const set = await retirePreviousSet(ctx.root, (line) => info(ctx, line));
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
  await removeShareKeys(ctx.root);
  info(ctx, `retired share set ${set?.record.setId ?? "(none)"}: the admin credentials are stored as ${ctx.config.system.adminSecretHandling.kind} now`);
}
