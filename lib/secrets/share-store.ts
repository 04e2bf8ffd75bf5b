/**
 * The root-only record of the share set and the staging of its shares (every path below a configurable root):
 *
 *   /var/lib/signstar/shares/            0700  the share set and the shares not yet handed to their holders
 *     record.json                        0600  ShareSetRecord + which user holds which index (no secrets), and the
 *                                              previous set's, kept until the new one is confirmed (see below)
 *     <set-id>/pending/<user>.share      0600  a share not yet handed over (one line, sealed: ./share-seal.ts)
 *     <set-id>/claimed/<user>.share      0600  a share being handed over right now (see claimStagedShare)
 *     <set-id>/fetched/<user>            0600  marker: this user's share was handed over (time, index; no share)
 *
 * Staging is atomic (a complete temporary set directory is renamed into place, then record.json is replaced:
 * the commit point). A claim renames the user's share away before reading it, so exactly one caller gets it;
 * the caller then commits (share wiped, marker written) or releases (share put back).
 *
 * The previous set: staging a new set keeps the record of the set it replaces (`previous`), so that a crash or a
 * reboot before the holders have the new shares (a reboot loses shares still on the host: their keys live in
 * tmpfs) never leaves neither set usable. signstar-configure drops it once a threshold of the new set's holders
 * confirmed their shares (lib/configure/admin-secret.ts).
 *
 * signstar-configure (lib/configure/admin-secret.ts) stages a new set here and claims each share to move it into
 * its holder's download spool; the holders' spools, downloads, uploads (tmpfs, /run/signstar/share-uploads/) and
 * the upload window live in lib/spool/shares.ts.
 */
import { readdir, rename } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { ExitCode } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import type { SystemUserId } from "../config/model.js";
import { systemUserId } from "../config/primitives.js";
import { InvalidValue } from "../config/problems.js";
import { writeFileAtomic, syncDirectory } from "../os/atomic-file.js";
import { readCheckedSecretFile } from "./non-admin.js";
import { ShareError } from "./shares/errors.js";
import { MAX_RECORD_BYTES, shareSetRecord, type ShareSetRecord } from "./shares/record.js";
import { verifyShare } from "./shares/verify.js";
import { claimShareFile } from "./share-claim.js";
import { createShareKey, sealShare, unsealShare } from "./share-seal.js";
import { checkPrivateDir, ensureDir, pathExists } from "../os/fs.js";
import { wipeTree } from "../os/wipe.js";

const STORE_FORMAT = "signstar-share-store-v1";
export interface ShareHolder {
  readonly index: number;
  readonly user: SystemUserId;
}

/** The share set the host knows about: the record and the shareholder of every index. */
export interface StoredShareSet {
  readonly record: ShareSetRecord;
  readonly holders: readonly ShareHolder[];
  /** The set this one replaced, kept until this one is confirmed (no `previous` of its own). */
  readonly previous?: StoredShareSet;
}

export interface ShareAssignment {
  readonly user: string;
  /** The holder's group: its share key is readable by it (./share-seal.ts). */
  readonly gid: number;
  /** The share line produced by splitSecret (secret). */
  readonly share: string;
}

/** A share taken out of staging but not yet confirmed as delivered. */
export interface StagedShareClaim {
  /** The share line (secret). */
  readonly share: string;
  readonly index: number;
  /** The share was delivered: wipe it and mark the user as having downloaded it. */
  commit(now?: number): Promise<void>;
  /** Delivery failed: put the share back so the user can try again. */
  release(): Promise<void>;
}

export interface ShareStoreOptions {
  /** Root prefix (default `/`). */
  readonly root?: string;
}

function user(name: string): SystemUserId {
  try {
    return systemUserId(name);
  } catch (error) {
    if (error instanceof InvalidValue) throw new ShareError("holder", error.message, ExitCode.Denied);
    throw error;
  }
}

export class ShareStore {
  readonly root: string;
  readonly stateDir: string;
  readonly recordPath: string;

  constructor(opts: ShareStoreOptions = {}) {
    this.root = opts.root ?? "/";
    const layout = hostLayout(this.root);
    this.stateDir = layout.shareStoreDir;
    this.recordPath = layout.shareRecord;
  }

  private setDir(setId: string): string {
    return join(this.stateDir, setId);
  }

  private stagedPath(setId: string, kind: "pending" | "claimed" | "fetched", u: string): string {
    return join(this.setDir(setId), kind, kind === "fetched" ? u : `${u}.share`);
  }

  // ------------------------------------------------------------ the record

  /** The recorded share set, or undefined when none was ever staged. */
  async readShareSet(): Promise<StoredShareSet | undefined> {
    if (!(await checkPrivateDir(this.stateDir, 0))) return undefined;
    if (!(await pathExists(this.recordPath))) return undefined;
    const bytes = await readCheckedSecretFile(this.recordPath, 0, MAX_RECORD_BYTES);
    const origin = this.recordPath;
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new ShareError("record", `${origin}: invalid share-set record: not valid JSON`, ExitCode.Secret);
    }
    const o = doc as { format?: unknown; record?: unknown; holders?: unknown; previous?: unknown };
    if (typeof doc !== "object" || doc === null || o.format !== STORE_FORMAT || !Array.isArray(o.holders)) {
      throw new ShareError("record", `${origin}: invalid share-set record: expected format "${STORE_FORMAT}" with holders`, ExitCode.Secret);
    }
    const current = parseStoredSet(o.record, o.holders, origin);
    if (o.previous === undefined) return current;
    const p = o.previous as { record?: unknown; holders?: unknown };
    if (typeof p !== "object" || p === null || !Array.isArray(p.holders)) throw new ShareError("record", `${origin}: invalid share-set record: bad previous set`, ExitCode.Secret);
    return { ...current, previous: parseStoredSet(p.record, p.holders, origin) };
  }

  /** Writes record.json (the commit point of staging and of dropping the previous set). */
  private async writeRecord(set: StoredShareSet): Promise<void> {
    const entry = (x: StoredShareSet) => ({ record: x.record, holders: [...x.holders].sort((a, b) => a.index - b.index) });
    const stored = { format: STORE_FORMAT, ...entry(set), ...(set.previous !== undefined ? { previous: entry(set.previous) } : {}) };
    await writeFileAtomic(this.recordPath, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600, uid: 0, gid: 0 });
  }

  /** Forgets the previous set (its holders' shares can no longer be used on this host). */
  async dropPreviousSet(): Promise<StoredShareSet | undefined> {
    const set = await this.readShareSet();
    if (set?.previous === undefined) return undefined;
    const { previous, ...current } = set;
    await this.writeRecord(current);
    await wipeTree(this.setDir(previous.record.setId));
    return previous;
  }
  /** The recorded share set; throws ShareError "no-share-set" when there is none. */
  async loadShareSet(): Promise<StoredShareSet> {
    const set = await this.readShareSet();
    if (set === undefined) {
      throw new ShareError("no-share-set", "no share set is recorded on this host (signstar-configure has not created one)", ExitCode.Config);
    }
    return set;
  }

  // ------------------------------------------------------------ staging and claiming

  /**
   * Stages one share per shareholder for download and records the share set (replacing any previous set and
   * its undownloaded shares). Every share is verified against `record` first; nothing changes on failure.
   */
  async stageShares(record: ShareSetRecord, assignments: readonly ShareAssignment[], previous?: StoredShareSet): Promise<void> {
    if (assignments.length !== record.shares) {
      throw new ShareError("parameters", `share set ${record.setId} has ${record.shares} shares, but ${assignments.length} were assigned`);
    }
    const holders: ShareHolder[] = [];
    const lines: string[] = [];
    const gids: number[] = [];
    for (const a of assignments) {
      const u = user(a.user);
      if (holders.some((h) => h.user === u)) throw new ShareError("holder", `user ${u} was assigned more than one share`);
      const s = verifyShare(a.share, record);
      if (holders.some((h) => h.index === s.index)) throw new ShareError("duplicate", `share ${s.index} was assigned more than once`);
      holders.push({ index: s.index, user: u });
      lines.push(s.line());
      gids.push(a.gid);
    }
    await ensureDir(this.stateDir, 0o700);
    const final = this.setDir(record.setId);
    if (await pathExists(final)) throw new ShareError("set", `share set ${record.setId} is already staged`);
    const temp = join(this.stateDir, `.${record.setId}.${randomBytes(6).toString("hex")}.tmp`);
    let renamed = false;
    try {
      await ensureDir(temp, 0o700);
      for (const kind of ["pending", "claimed", "fetched"] as const) await ensureDir(join(temp, kind), 0o700);
      // Sealed under keys that live in tmpfs only: the bytes on disk are not the shares.
      for (const [i, h] of holders.entries()) {
        const seal = { setId: record.setId, user: h.user };
        await createShareKey(this.root, seal, gids[i]!);
        await writeFileAtomic(join(temp, "pending", `${h.user}.share`), `${await sealShare(this.root, seal, lines[i]!)}\n`, { mode: 0o600, uid: 0, gid: 0 });
      }
      await rename(temp, final);
      renamed = true;
      await syncDirectory(this.stateDir);
      // The commit point: the new set, and the one that still recovers the secret until the new one is confirmed.
      await this.writeRecord({ record, holders, ...(previous !== undefined ? { previous: { record: previous.record, holders: previous.holders } } : {}) });
    } catch (error) {
      await wipeTree(renamed ? final : temp);
      throw error;
    }
    // Committed: forget every other set's staging (the previous set's holders have their shares, or lost them).
    for (const entry of await readdir(this.stateDir, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name !== record.setId) await wipeTree(join(this.stateDir, entry.name));
    }
  }

  /**
   * Takes `name`'s share out of staging (atomically: exactly one caller wins). The caller delivers it and then
   * calls commit() (wipes it, marks the user as done) or release() (puts it back). A second claim after commit
   * fails with "already downloaded".
   */
  async claimStagedShare(name: string): Promise<StagedShareClaim> {
    const u = user(name);
    const { record, holders } = await this.loadShareSet();
    const holder = holders.find((h) => h.user === u);
    if (holder === undefined) {
      throw new ShareError("holder", `user ${u} is not a shareholder of share set ${record.setId}`, ExitCode.Denied);
    }
    const pending = this.stagedPath(record.setId, "pending", u);
    const claimed = this.stagedPath(record.setId, "claimed", u);
    const fetched = this.stagedPath(record.setId, "fetched", u);
    const claim = await claimShareFile(
      { pending, claimed, fetched },
      {
        user: u,
        index: holder.index,
        setId: record.setId,
        fileUid: 0,
        markerOwner: { uid: 0, gid: 0 },
        verify: (text) => verifyShare(text, record),
        unseal: (text) => unsealShare(this.root, { setId: record.setId, user: u }, text),
      },
    );
    return { share: claim.share, index: claim.index, commit: (now = Date.now()) => claim.commit(new Date(now)), release: () => claim.release() };
  }

}

function checkHolders(record: ShareSetRecord, holders: readonly ShareHolder[], origin: string): void {
  const indexes = new Set(holders.map((h) => h.index));
  const users = new Set(holders.map((h) => h.user));
  const ok =
    holders.length === record.shares &&
    indexes.size === holders.length &&
    users.size === holders.length &&
    holders.every((h) => Number.isInteger(h.index) && h.index >= 1 && h.index <= record.shares);
  if (!ok) throw new ShareError("record", `${origin}: invalid share-set record: holders do not match the share set`, ExitCode.Secret);
}

function parseStoredSet(recordDoc: unknown, holdersDoc: readonly unknown[], origin: string): StoredShareSet {
  const record = shareSetRecord(recordDoc, origin);
  const holders = holdersDoc.map((h: unknown) => {
    const x = h as { index?: unknown; user?: unknown };
    if (typeof x?.index !== "number" || typeof x.user !== "string") {
      throw new ShareError("record", `${origin}: invalid share-set record: bad holder entry`, ExitCode.Secret);
    }
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(x.user)) throw new ShareError("record", `${origin}: invalid share-set record: bad holder name`, ExitCode.Secret);
    return { index: x.index, user: user(x.user) };
  });
  checkHolders(record, holders, origin);
  return { record, holders };
}

