/**
 * Share state on the host (all root-only, every path below a configurable root):
 *
 *   /var/lib/signstar/shares/            0700  the share set and the shares waiting to be downloaded
 *     record.json                        0600  ShareSetRecord + which user holds which index (no secrets)
 *     <set-id>/pending/<user>.share      0600  a share not yet downloaded (one line)
 *     <set-id>/claimed/<user>.share      0600  a share being downloaded right now (see claimStagedShare)
 *     <set-id>/fetched/<user>            0600  marker: this user downloaded its share (time, index; no share)
 *   /run/signstar/shares/                0700  tmpfs: uploaded shares, wiped after use or timeout
 *     <index>.share                      0600  {"user", "uploadedAt", "share"}; created exclusively (link(2))
 *
 * Staging is atomic (a complete temporary set directory is renamed into place, then record.json is replaced:
 * the commit point). A download renames the user's share away before reading it, so it can be taken once.
 * Uploads are verified against the record before they are stored and counted once per index; the upload
 * window starts at the first upload and every read checks it, wiping everything once it has expired.
 */
import { lstat, readdir, rename, statfs } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { ExitCode } from "../errors.js";
import type { SystemUserId } from "../config/model.js";
import { systemUserId } from "../config/primitives.js";
import { InvalidValue } from "../config/problems.js";
import { writeFileAtomic, syncDirectory } from "./atomic-file.js";
import { readCheckedSecretFile } from "./non-admin.js";
import { ShareError } from "./shares/errors.js";
import { MAX_SHARE_TEXT } from "./shares/format.js";
import { MAX_RECORD_BYTES, shareSetRecord, type ShareSetRecord } from "./shares/record.js";
import { verifyShare, type VerifiedShare } from "./shares/verify.js";
import { checkPrivateDir, createFileExclusive, ensureDir, isMissing, wipeFile, wipeTree } from "./shares/files.js";

export const SHARES_STATE_DIR = "/var/lib/signstar/shares";
export const SHARES_UPLOAD_DIR = "/run/signstar/shares";
/** Default upload window: uploaded shares are wiped 15 minutes after the first one arrived. */
export const DEFAULT_UPLOAD_TIMEOUT_MS = 15 * 60 * 1000;
const STORE_FORMAT = "signstar-share-store-v1";
const UPLOAD_FORMAT = "signstar-uploaded-share-v1";
const TMPFS_MAGIC = 0x01021994;
const MAX_UPLOAD_FILE = MAX_SHARE_TEXT + 512;

export interface ShareHolder {
  readonly index: number;
  readonly user: SystemUserId;
}

/** The share set the host knows about: the record and the shareholder of every index. */
export interface StoredShareSet {
  readonly record: ShareSetRecord;
  readonly holders: readonly ShareHolder[];
}

export interface ShareAssignment {
  readonly user: string;
  /** The share line produced by splitSecret (secret). */
  readonly share: string;
}

export interface UploadStatus {
  readonly setId: string;
  /** Distinct shares present, including the one just stored. */
  readonly uploaded: number;
  readonly threshold: number;
  /** When the present shares are wiped (ms since the epoch); undefined when none are present. */
  readonly expiresAt: number | undefined;
  /** Set when older uploads were wiped before this one was stored (they had expired or were of another set). */
  readonly wipedOld?: "expired" | "other-set" | "corrupt";
}

export interface HolderState {
  readonly user: SystemUserId;
  readonly index: number;
  readonly state: "pending" | "claimed" | "fetched";
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
  /** Refuse to keep uploaded shares unless their directory is on tmpfs (default: true when root is `/`). */
  readonly requireTmpfs?: boolean;
}

function user(name: string): SystemUserId {
  try {
    return systemUserId(name);
  } catch (error) {
    if (error instanceof InvalidValue) throw new ShareError("holder", error.message, ExitCode.Denied);
    throw error;
  }
}

interface UploadEntry {
  readonly share: VerifiedShare;
  readonly user: string;
  readonly uploadedAt: number;
}

type UploadRead = { kind: "ok"; entries: UploadEntry[] } | { kind: "wiped"; reason: "expired" | "other-set" | "corrupt" };

export class ShareStore {
  readonly root: string;
  readonly stateDir: string;
  readonly uploadDir: string;
  readonly recordPath: string;
  private readonly requireTmpfs: boolean;

  constructor(opts: ShareStoreOptions = {}) {
    this.root = opts.root ?? "/";
    this.stateDir = join(this.root, SHARES_STATE_DIR);
    this.uploadDir = join(this.root, SHARES_UPLOAD_DIR);
    this.recordPath = join(this.stateDir, "record.json");
    this.requireTmpfs = opts.requireTmpfs ?? this.root === "/";
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
    if (!(await exists(this.recordPath))) return undefined;
    const bytes = await readCheckedSecretFile(this.recordPath, 0, MAX_RECORD_BYTES);
    const origin = this.recordPath;
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new ShareError("record", `${origin}: invalid share-set record: not valid JSON`, ExitCode.Secret);
    }
    const o = doc as { format?: unknown; record?: unknown; holders?: unknown };
    if (typeof doc !== "object" || doc === null || o.format !== STORE_FORMAT || !Array.isArray(o.holders)) {
      throw new ShareError("record", `${origin}: invalid share-set record: expected format "${STORE_FORMAT}" with holders`, ExitCode.Secret);
    }
    const record = shareSetRecord(o.record, origin);
    const holders = o.holders.map((h: unknown) => {
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

  /** The recorded share set; throws ShareError "no-share-set" when there is none. */
  async loadShareSet(): Promise<StoredShareSet> {
    const set = await this.readShareSet();
    if (set === undefined) {
      throw new ShareError("no-share-set", "no share set is recorded on this host (signstar-configure has not created one)", ExitCode.Config);
    }
    return set;
  }

  // ------------------------------------------------------------ staging for download

  /**
   * Stages one share per shareholder for download and records the share set (replacing any previous set and
   * its undownloaded shares). Every share is verified against `record` first; nothing changes on failure.
   */
  async stageShares(record: ShareSetRecord, assignments: readonly ShareAssignment[]): Promise<void> {
    if (assignments.length !== record.shares) {
      throw new ShareError("parameters", `share set ${record.setId} has ${record.shares} shares, but ${assignments.length} were assigned`);
    }
    const holders: ShareHolder[] = [];
    const lines: string[] = [];
    for (const a of assignments) {
      const u = user(a.user);
      if (holders.some((h) => h.user === u)) throw new ShareError("holder", `user ${u} was assigned more than one share`);
      const s = verifyShare(a.share, record);
      if (holders.some((h) => h.index === s.index)) throw new ShareError("duplicate", `share ${s.index} was assigned more than once`);
      holders.push({ index: s.index, user: u });
      lines.push(s.line());
    }
    await ensureDir(this.stateDir, 0o700);
    const final = this.setDir(record.setId);
    if (await exists(final)) throw new ShareError("set", `share set ${record.setId} is already staged`);
    const temp = join(this.stateDir, `.${record.setId}.${randomBytes(6).toString("hex")}.tmp`);
    let renamed = false;
    try {
      await ensureDir(temp, 0o700);
      for (const kind of ["pending", "claimed", "fetched"] as const) await ensureDir(join(temp, kind), 0o700);
      for (const [i, h] of holders.entries()) {
        await writeFileAtomic(join(temp, "pending", `${h.user}.share`), `${lines[i]!}\n`, { mode: 0o600, uid: 0, gid: 0 });
      }
      await rename(temp, final);
      renamed = true;
      await syncDirectory(this.stateDir);
      const stored = { format: STORE_FORMAT, record, holders: [...holders].sort((a, b) => a.index - b.index) };
      await writeFileAtomic(this.recordPath, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600, uid: 0, gid: 0 });
    } catch (error) {
      await wipeTree(renamed ? final : temp);
      throw error;
    }
    // Committed: forget every other set (their shares can no longer decrypt anything the host keeps).
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
    try {
      await rename(pending, claimed);
    } catch (error) {
      if (!isMissing(error)) throw error;
      if ((await exists(fetched)) || (await exists(claimed))) {
        throw new ShareError(
          "already-downloaded",
          `user ${u} already downloaded share ${holder.index} of set ${record.setId}; it is no longer on this host`,
          ExitCode.Denied,
        );
      }
      throw new ShareError("not-staged", `no share is staged for user ${u} in share set ${record.setId}`, ExitCode.Config);
    }
    let text: string;
    try {
      text = (await readCheckedSecretFile(claimed, 0, MAX_SHARE_TEXT + 2)).toString("utf8").trim();
      verifyShare(text, record);
    } catch (error) {
      await rename(claimed, pending).catch(() => undefined);
      throw error;
    }
    let done = false;
    return {
      share: text,
      index: holder.index,
      commit: async (now = Date.now()) => {
        if (done) return;
        done = true;
        const marker = JSON.stringify({ index: holder.index, fetchedAt: new Date(now).toISOString() });
        await writeFileAtomic(fetched, `${marker}\n`, { mode: 0o600, uid: 0, gid: 0 });
        await wipeFile(claimed);
        await syncDirectory(join(this.setDir(record.setId), "claimed"));
      },
      release: async () => {
        if (done) return;
        done = true;
        await rename(claimed, pending);
      },
    };
  }

  /** Returns `name`'s own share once and deletes it from the host (claim + commit). */
  async takeStagedShare(name: string, now = Date.now()): Promise<string> {
    const claim = await this.claimStagedShare(name);
    await claim.commit(now);
    return claim.share;
  }

  /** Per shareholder: pending, claimed (a download in progress or interrupted) or fetched. */
  async stagingStatus(): Promise<HolderState[]> {
    const { record, holders } = await this.loadShareSet();
    const out: HolderState[] = [];
    for (const h of holders) {
      const state = (await exists(this.stagedPath(record.setId, "fetched", h.user)))
        ? "fetched"
        : (await exists(this.stagedPath(record.setId, "claimed", h.user)))
          ? "claimed"
          : "pending";
      out.push({ user: h.user, index: h.index, state });
    }
    return out;
  }

  /** True when every shareholder has downloaded its share and no share file is left in staging. */
  async allSharesFetched(): Promise<boolean> {
    const set = await this.readShareSet();
    if (set === undefined) return false;
    const states = await this.stagingStatus();
    if (!states.every((s) => s.state === "fetched")) return false;
    for (const kind of ["pending", "claimed"] as const) {
      const names = await readdir(join(this.setDir(set.record.setId), kind)).catch((e: unknown) => {
        if (isMissing(e)) return [] as string[];
        throw e;
      });
      if (names.length > 0) return false;
    }
    return true;
  }

  // ------------------------------------------------------------ uploads (tmpfs)

  private async checkUploadDir(create: boolean): Promise<boolean> {
    if (create) await ensureDir(this.uploadDir, 0o700);
    else if (!(await checkPrivateDir(this.uploadDir, 0))) return false;
    if (this.requireTmpfs) {
      const fs = await statfs(this.uploadDir);
      if (fs.type !== TMPFS_MAGIC) {
        throw new ShareError("storage", `${this.uploadDir} is not on tmpfs; uploaded shares must never reach a disk`, ExitCode.Secret);
      }
    }
    return true;
  }

  /** Reads and re-verifies every upload; wipes them all if they expired, are of another set or are corrupt. */
  private async readUploads(record: ShareSetRecord, now: number, timeoutMs: number): Promise<UploadRead> {
    const names = (await readdir(this.uploadDir)).filter((n) => /^[0-9]{1,3}\.share$/.test(n));
    const entries: UploadEntry[] = [];
    let reason: "other-set" | "corrupt" | undefined;
    for (const name of names) {
      const path = join(this.uploadDir, name);
      let doc: { format?: unknown; user?: unknown; uploadedAt?: unknown; share?: unknown };
      try {
        doc = JSON.parse((await readCheckedSecretFile(path, 0, MAX_UPLOAD_FILE)).toString("utf8")) as typeof doc;
      } catch {
        if (!(await exists(path))) continue; // wiped concurrently
        reason = "corrupt";
        break;
      }
      if (doc.format !== UPLOAD_FORMAT || typeof doc.user !== "string" || typeof doc.uploadedAt !== "number" || typeof doc.share !== "string") {
        reason = "corrupt";
        break;
      }
      try {
        const share = verifyShare(doc.share, record);
        if (name !== `${share.index}.share`) throw new ShareError("index", "misplaced share");
        entries.push({ share, user: doc.user, uploadedAt: doc.uploadedAt });
      } catch (error) {
        const p = error instanceof ShareError ? error.problem : undefined;
        reason = p === "iteration" || p === "set" ? "other-set" : "corrupt";
        break;
      }
    }
    const first = Math.min(...entries.map((e) => e.uploadedAt));
    if (reason === undefined && entries.length > 0 && now >= first + timeoutMs) {
      await this.wipeUploadedShares();
      return { kind: "wiped", reason: "expired" };
    }
    if (reason !== undefined) {
      await this.wipeUploadedShares();
      return { kind: "wiped", reason };
    }
    entries.sort((a, b) => a.share.index - b.share.index);
    return { kind: "ok", entries };
  }

  /**
   * Verifies and stores a share uploaded by `name` (which must be the shareholder the share was issued to).
   * Each index is stored once; a second upload of it fails. Expired or stale uploads are wiped first.
   * Throws ShareError naming the failed check (exit BadInput; Denied for users who may not upload it).
   */
  async storeUploadedShare(name: string, text: string, now: number, timeoutMs = DEFAULT_UPLOAD_TIMEOUT_MS): Promise<UploadStatus> {
    const u = user(name);
    const { record, holders } = await this.loadShareSet();
    if (!holders.some((h) => h.user === u)) {
      throw new ShareError("holder", `user ${u} is not a shareholder of share set ${record.setId}`, ExitCode.Denied);
    }
    const share = verifyShare(text, record);
    if (holders.find((h) => h.index === share.index)?.user !== u) {
      throw new ShareError("holder", `share ${share.index} of set ${record.setId} was not issued to user ${u}`, ExitCode.Denied);
    }
    await this.checkUploadDir(true);
    const before = await this.readUploads(record, now, timeoutMs);
    const doc = { format: UPLOAD_FORMAT, user: u, uploadedAt: now, share: share.line() };
    const created = await createFileExclusive(join(this.uploadDir, `${share.index}.share`), `${JSON.stringify(doc)}\n`);
    if (!created) {
      throw new ShareError("duplicate", `share ${share.index} of set ${record.setId} has already been uploaded`);
    }
    const after = await this.readUploads(record, now, timeoutMs);
    const entries = after.kind === "ok" ? after.entries : [];
    const first = entries.length > 0 ? Math.min(...entries.map((e) => e.uploadedAt)) : undefined;
    return {
      setId: record.setId,
      uploaded: entries.length,
      threshold: record.threshold,
      expiresAt: first === undefined ? undefined : first + timeoutMs,
      ...(before.kind === "wiped" ? { wipedOld: before.reason } : {}),
    };
  }

  /** How many shares are present and until when (wipes expired/stale ones, like every read). */
  async uploadStatus(now: number, timeoutMs = DEFAULT_UPLOAD_TIMEOUT_MS): Promise<UploadStatus> {
    const { record } = await this.loadShareSet();
    if (!(await this.checkUploadDir(false))) {
      return { setId: record.setId, uploaded: 0, threshold: record.threshold, expiresAt: undefined };
    }
    const read = await this.readUploads(record, now, timeoutMs);
    const entries = read.kind === "ok" ? read.entries : [];
    const first = entries.length > 0 ? Math.min(...entries.map((e) => e.uploadedAt)) : undefined;
    return {
      setId: record.setId,
      uploaded: entries.length,
      threshold: record.threshold,
      expiresAt: first === undefined ? undefined : first + timeoutMs,
      ...(read.kind === "wiped" ? { wipedOld: read.reason } : {}),
    };
  }

  /**
   * The verified uploaded shares (sorted by index; possibly fewer than the threshold: combineShares checks).
   * If they expired, belong to another set or are corrupt, they are wiped and a ShareError says so.
   */
  async collectUploadedShares(now: number, timeoutMs = DEFAULT_UPLOAD_TIMEOUT_MS): Promise<VerifiedShare[]> {
    const { record } = await this.loadShareSet();
    if (!(await this.checkUploadDir(false))) return [];
    const read = await this.readUploads(record, now, timeoutMs);
    if (read.kind === "wiped") {
      const why =
        read.reason === "expired"
          ? `they expired (more than ${Math.round(timeoutMs / 1000)} s after the first upload)`
          : read.reason === "other-set"
            ? `they belong to another share set than ${record.setId}`
            : "one of them was corrupt";
      throw new ShareError(read.reason === "expired" ? "expired" : read.reason === "other-set" ? "set" : "corrupt", `the uploaded shares were wiped because ${why}; upload them again`);
    }
    return read.entries.map((e) => e.share);
  }

  /** Wipes expired (or stale) uploads; for the periodic timer. Returns true when something was wiped. */
  async wipeExpiredUploads(now: number, timeoutMs = DEFAULT_UPLOAD_TIMEOUT_MS): Promise<boolean> {
    const set = await this.readShareSet();
    if (!(await checkPrivateDir(this.uploadDir, 0))) return false;
    if (set === undefined) {
      await this.wipeUploadedShares();
      return true;
    }
    return (await this.readUploads(set.record, now, timeoutMs)).kind === "wiped";
  }

  /** Overwrites (best effort) and unlinks every uploaded share, including leftovers of interrupted writes. */
  async wipeUploadedShares(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.uploadDir);
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    for (const name of names) await wipeFile(join(this.uploadDir, name));
    await syncDirectory(this.uploadDir);
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

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}
