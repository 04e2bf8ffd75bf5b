/**
 * The shareholders' side of the share set: files the share tools read and write while running as the
 * shareholder (no privileged code runs for an SSH session), and the root-side functions of
 * signstar-configure that fill and drain them.
 *
 *   /var/lib/signstar/share-set.json                  root 0644  the share set without its ciphertext:
 *                                                               id, iteration, t-of-n, commitments, holders
 *   <home>/.local/state/signstar/                     root 0755  (and every directory above it up to the home)
 *     shares/                                         holder 0700
 *       <set-id>.share                                holder 0600  the staged share (until downloaded), sealed
 *                                                                  under a key in tmpfs (lib/secrets/share-seal.ts)
 *       <set-id>.claimed                              holder 0600  downloaded, not yet confirmed (renamed from .share;
 *                                                                  the holder can download it again)
 *       <set-id>.fetched                              holder 0600  marker {"index","fetchedAt"} after `confirm <code>`
 *   /run/signstar/share-uploads/                      root 0755  tmpfs
 *     <holder>/                                       holder 0755
 *       share                                         holder 0600  the uploaded share line
 *
 * Upload time is the file's ctime, which the kernel sets and a user can only move to "now", never back. The
 * upload window starts at the first upload; an upload arriving after a window closed starts a new one; a share
 * is therefore never kept longer than the timeout after its own arrival. Holders may see (stat) but not read
 * the other holders' uploads, which lets the upload tool report "2 of 3 present".
 */
import { lstat, readdir, statfs } from "node:fs/promises";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { join } from "node:path";
import { ExitCode } from "../errors.js";
import type { PasswdEntry } from "../os/accounts.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { SecretFileError } from "../secrets/errors.js";
import { readCheckedSecretFile } from "../secrets/non-admin.js";
import { ensureStateDirs } from "../secrets/state-dirs.js";
import type { ShareHolder, StoredShareSet } from "../secrets/share-store.js";
import { MAX_SEALED_TEXT, claimShareFile, confirmClaimedShare, type ClaimedShareFile, type ShareClaimant, type ShareFiles } from "../secrets/share-claim.js";
import { ShareError } from "../secrets/shares/errors.js";
import { mkdir } from "node:fs/promises";
import { checkPrivateDir, createFileExclusive, ensureDir, pathExists } from "../os/fs.js";
import { errnoCode, isMissing } from "../os/errno.js";
import { removeUserTree, throwWipeFailures, wipeEntries, wipeFile } from "../os/wipe.js";
import { MAX_SHARE_TEXT } from "../secrets/shares/format.js";
import { RECORD_FORMAT, type ShareSetRecord } from "../secrets/shares/record.js";
import { verifyShare, type VerifiedShare } from "../secrets/shares/verify.js";
import { parseShareLine } from "../secrets/shares/format.js";
import { sealShare, unsealShare } from "../secrets/share-seal.js";
import { hostLayout } from "../layout/host-layout.js";

const PUBLIC_FORMAT = "signstar-share-set-public-v1";
const MAX_PUBLIC_BYTES = 64 * 1024;
const TMPFS_MAGIC = 0x01021994;
/** Default upload window (same as the share store's): 15 minutes from the first upload. */
export const UPLOAD_TIMEOUT_MS = 15 * 60 * 1000;

/** The share set as the share tools see it: enough to verify a share, never enough to decrypt anything. */
export interface PublicShareSet {
  /** A record for verifyShare (format, id, iteration, t, n, data length, commitments); no ciphertext. */
  readonly record: ShareSetRecord;
  readonly holders: readonly ShareHolder[];
  /** The set the current one replaced, while it is kept (holders may upload its shares: docs/shares.md). */
  readonly previous?: PublicShareSet;
}

// ------------------------------------------------------------------ public set file (root writes, holders read)

export async function writePublicShareSet(root: string, set: StoredShareSet): Promise<void> {
  const part = (x: StoredShareSet) => ({
    setId: x.record.setId,
    iteration: x.record.iteration,
    threshold: x.record.threshold,
    shares: x.record.shares,
    dataLength: x.record.dataLength,
    commitments: x.record.commitments,
    holders: x.holders.map((h) => ({ index: h.index, user: h.user })),
  });
  const doc = { format: PUBLIC_FORMAT, ...part(set), ...(set.previous !== undefined ? { previous: part(set.previous) } : {}) };
  const path = hostLayout(root).publicShareSet;
  await mkdir(join(path, ".."), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o644, uid: 0, gid: 0 });
}

export async function removePublicShareSet(root: string): Promise<void> {
  await wipeFile(hostLayout(root).publicShareSet);
  await wipeFile(hostLayout(root).shareStatus);
}

/**
 * How long staged and downloaded-but-unconfirmed shares may stay on the host before every signstar-configure
 * run and every run of the share-wipe timer warns (stderr, so the journal has it). Until the holders confirm,
 * their shares are files on the host's disk; a disk image or backup taken while a threshold of them is there
 * yields the admin secret (docs/shares.md, "At rest").
 */
export const SHARE_CONFIRM_DEADLINE_MS = 7 * 24 * 60 * 60 * 1000;

/** share-status.json: public (0644), no secret: which holders have not confirmed, and the deadline. */
export interface ShareStatus {
  readonly setId: string;
  readonly createdAt: string;
  readonly deadline: string;
  readonly holders: readonly { readonly user: string; readonly index: number; readonly state: DownloadState }[];
}

/** Root: the state of every holder's share of `set` (pending, claimed = downloaded, not confirmed, fetched). */
export async function shareStatus(root: string, set: StoredShareSet): Promise<ShareStatus> {
  const created = Date.parse(set.record.createdAt);
  const holders = [];
  for (const h of set.holders) holders.push({ user: h.user, index: h.index, state: await downloadState(root, h.user, set.record.setId) });
  return {
    setId: set.record.setId,
    createdAt: set.record.createdAt,
    deadline: new Date((Number.isFinite(created) ? created : 0) + SHARE_CONFIRM_DEADLINE_MS).toISOString(),
    holders,
  };
}

/** The holders whose share is still on the host (staged, or downloaded but not confirmed). */
export function unconfirmedHolders(status: ShareStatus): string[] {
  return status.holders.filter((h) => h.state === "pending" || h.state === "claimed").map((h) => `${h.user} (${h.state === "pending" ? "not downloaded" : "downloaded, not confirmed"})`);
}

/** Root: writes share-status.json (for the metrics user) and returns the warning line when the deadline passed. */
export async function publishShareStatus(root: string, set: StoredShareSet, now: Date): Promise<{ status: ShareStatus; warning?: string }> {
  const status = await shareStatus(root, set);
  const path = hostLayout(root).shareStatus;
  await mkdir(join(path, ".."), { recursive: true, mode: 0o755 });
  await writeFileAtomic(path, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644, uid: 0, gid: 0 });
  const open = unconfirmedHolders(status);
  if (open.length === 0 || now.getTime() <= Date.parse(status.deadline)) return { status };
  return {
    status,
    warning: `WARNING: share set ${status.setId} was staged at ${status.createdAt} and ${open.length} share(s) are still on this host after the deadline ${status.deadline}: ${open.join(", ")}; a copy of this disk holds them: ask the holders to download and confirm their shares`,
  };
}

/** The metrics user's view: share-status.json if present (owner root, not writable by others). */
export async function readShareStatus(root: string): Promise<ShareStatus | undefined> {
  const path = hostLayout(root).shareStatus;
  let text: string;
  try {
    text = (await readCheckedFile(path, { what: "share status", maxBytes: MAX_PUBLIC_BYTES, owner: 0, clearBits: 0o022 })).data.toString("utf8");
  } catch (error) {
    if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") return undefined;
    throw error;
  }
  const doc = JSON.parse(text) as Partial<ShareStatus>;
  if (typeof doc.setId !== "string" || typeof doc.deadline !== "string" || typeof doc.createdAt !== "string" || !Array.isArray(doc.holders)) {
    throw badPublic(path, "not a share status");
  }
  return doc as ShareStatus;
}

function badPublic(path: string, what: string): ShareError {
  return new ShareError("record", `${path}: invalid share set: ${what}`, ExitCode.Secret);
}

/** Reads the public share set (owner root, not writable by others). */
export async function readPublicShareSet(root: string): Promise<PublicShareSet> {
  const path = hostLayout(root).publicShareSet;
  let text: string;
  try {
    text = (await readCheckedFile(path, { what: "share set", maxBytes: MAX_PUBLIC_BYTES, owner: 0, clearBits: 0o022 })).data.toString("utf8");
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === "open" && error.problem.code === "ENOENT") {
      throw new ShareError("no-share-set", "no share set is recorded on this host (signstar-configure has not created one)", ExitCode.Config);
    }
    if (error.problem.kind === "open") throw error;
    throw badPublic(path, "it must be a regular file owned by root, writable only by root, at most 64 KiB");
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw badPublic(path, "not valid JSON");
  }
  if (doc["format"] !== PUBLIC_FORMAT) throw badPublic(path, `format must be "${PUBLIC_FORMAT}"`);
  const current = publicPart(doc, path);
  const previous = doc["previous"];
  if (previous === undefined) return current;
  if (typeof previous !== "object" || previous === null) throw badPublic(path, "bad previous set");
  return { ...current, previous: publicPart(previous as Record<string, unknown>, path) };
}

function publicPart(doc: Record<string, unknown>, path: string): PublicShareSet {
  const int = (k: string): number => {
    const v = doc[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw badPublic(path, `field "${k}" is missing or invalid`);
    return v;
  };
  const setId = doc["setId"];
  if (typeof setId !== "string" || !/^[0-9a-f]{16}$/.test(setId)) throw badPublic(path, "setId must be 16 hex digits");
  const shares = int("shares");
  const commitments = doc["commitments"];
  if (!Array.isArray(commitments) || commitments.length !== shares || !commitments.every((c) => typeof c === "string" && /^[0-9a-f]{64}$/.test(c))) {
    throw badPublic(path, "bad commitments");
  }
  const holdersRaw = doc["holders"];
  if (!Array.isArray(holdersRaw) || holdersRaw.length !== shares) throw badPublic(path, "bad holders");
  const holders = holdersRaw.map((h: unknown) => {
    const x = h as { index?: unknown; user?: unknown };
    if (typeof x?.index !== "number" || typeof x.user !== "string" || !/^[A-Za-z0-9_-]{1,32}$/.test(x.user)) throw badPublic(path, "bad holder entry");
    return { index: x.index, user: x.user } as ShareHolder;
  });
  const record: ShareSetRecord = {
    format: RECORD_FORMAT,
    setId,
    iteration: int("iteration"),
    threshold: int("threshold"),
    shares,
    dataLength: int("dataLength"),
    commitments: commitments as string[],
    nonce: "",
    tag: "",
    ciphertext: "",
    createdAt: "",
  };
  return { record, holders };
}

/** The caller's holder entry, or ShareError (Denied) naming the user. */
export function holderOf(set: PublicShareSet | StoredShareSet, user: string): ShareHolder {
  const h = set.holders.find((x) => x.user === user);
  if (h === undefined) throw new ShareError("holder", `user ${user} is not a shareholder of share set ${set.record.setId}`, ExitCode.Denied);
  return h;
}

/**
 * The set a share text belongs to: the previous set when the text names it (so that its own checks report what
 * is wrong with it), else the current one.
 */
export function setOfShare<S extends PublicShareSet | StoredShareSet>(text: string, set: S): S {
  const previous = set.previous as S | undefined;
  if (previous === undefined) return set;
  try {
    return parseShareLine(text).setId === previous.record.setId ? previous : set;
  } catch {
    return set;
  }
}

/** Verifies a share text and that it was issued to `user` (messages as the share store's). */
export function verifyHolderShare(text: string, set: PublicShareSet | StoredShareSet, user: string): VerifiedShare {
  const holder = holderOf(set, user);
  const share = verifyShare(text, set.record);
  if (share.index !== holder.index) {
    throw new ShareError("holder", `share ${share.index} of set ${set.record.setId} was not issued to user ${user}`, ExitCode.Denied);
  }
  return share;
}

// ------------------------------------------------------------------ download spool

type SpoolKind = "share" | "claimed" | "fetched";

function spoolPath(root: string, user: string, setId: string, kind: SpoolKind): string {
  return join(hostLayout(root).userState(user, "shares"), `${setId}.${kind}`);
}

/**
 * Root: puts `line`, sealed (lib/secrets/share-seal.ts), into the holder's spool (0600, owner the holder) and
 * removes files of any set but this one and `alsoKeep` (the previous set, while it is kept).
 */
export async function deliverShare(root: string, owner: PasswdEntry, setId: string, line: string, alsoKeep?: string): Promise<void> {
  await ensureStateDirs(root, owner.name, "shares", owner);
  const sealed = await sealShare(root, { setId, user: owner.name }, line);
  await writeFileAtomic(spoolPath(root, owner.name, setId, "share"), `${sealed}\n`, { mode: 0o600, uid: owner.uid, gid: owner.gid });
  await clearOtherSets(root, owner, alsoKeep !== undefined ? [setId, alsoKeep] : setId);
}

/**
 * Root: removes a holder's spool files of sets other than `keep` (all when `keep` is undefined). The directory
 * chain is checked first (a symbolic link anywhere is refused); only the holder's own regular files are
 * zero-filled, subdirectories are skipped, and every entry is tried before the failures are reported together.
 */
export async function clearOtherSets(root: string, owner: PasswdEntry, keep?: string | readonly string[]): Promise<void> {
  const dir = await ensureStateDirs(root, owner.name, "shares", owner);
  const kept = keep === undefined ? [] : typeof keep === "string" ? [keep] : keep;
  const report = await wipeEntries(dir, { expectedUid: owner.uid, ...(kept.length > 0 ? { keep: (name: string) => kept.some((k) => name.startsWith(`${k}.`)) } : {}) });
  throwWipeFailures(`share spool of user ${owner.name}`, report.failures);
}

export type DownloadState = "pending" | "claimed" | "fetched" | "missing";

export async function downloadState(root: string, user: string, setId: string): Promise<DownloadState> {
  if (await pathExists(spoolPath(root, user, setId, "share"))) return "pending";
  if (await pathExists(spoolPath(root, user, setId, "claimed"))) return "claimed";
  if (await pathExists(spoolPath(root, user, setId, "fetched"))) return "fetched";
  return "missing";
}

/**
 * Root: the undownloaded share of a holder (pending or claimed), unsealed and verified; undefined when there is
 * none, or when it cannot be opened (its key went with a reboot: docs/shares.md).
 */
export async function readUndownloadedShare(root: string, owner: PasswdEntry, set: StoredShareSet): Promise<VerifiedShare | undefined> {
  for (const kind of ["share", "claimed"] as const) {
    const path = spoolPath(root, owner.name, set.record.setId, kind);
    if (!(await pathExists(path))) continue;
    try {
      const sealed = (await readCheckedSecretFile(path, owner.uid, MAX_SEALED_TEXT, { singleLink: true })).toString("utf8");
      return verifyHolderShare(await unsealShare(root, { setId: set.record.setId, user: owner.name }, sealed), set, owner.name);
    } catch {
      return undefined; // a damaged file is not a usable share; the holder's download reports it
    }
  }
  return undefined;
}

export type DownloadClaim = ClaimedShareFile;

async function holderSpool(root: string, caller: { uid: number; name: string }, set: PublicShareSet): Promise<{ files: ShareFiles; who: ShareClaimant }> {
  const holder = holderOf(set, caller.name);
  const setId = set.record.setId;
  const dir = hostLayout(root).userState(caller.name, "shares");
  if (!(await checkPrivateDir(dir, caller.uid))) {
    throw new ShareError("not-staged", `no share is staged for user ${caller.name} in share set ${setId}`, ExitCode.Config);
  }
  return {
    files: {
      pending: spoolPath(root, caller.name, setId, "share"),
      claimed: spoolPath(root, caller.name, setId, "claimed"),
      fetched: spoolPath(root, caller.name, setId, "fetched"),
    },
    who: {
      user: caller.name,
      index: holder.index,
      setId,
      fileUid: caller.uid,
      verify: (text) => verifyHolderShare(text, set, caller.name),
      unseal: (text) => unsealShare(root, { setId, user: caller.name }, text),
    },
  };
}

/**
 * The holder: takes its staged share (rename to .claimed: one concurrent caller wins), reads and verifies it.
 * A share claimed by an earlier, unconfirmed download is handed out again. release() puts a fresh claim back;
 * the share is wiped only by confirmDownload.
 */
export async function claimDownload(root: string, caller: { uid: number; name: string }, set: PublicShareSet): Promise<DownloadClaim> {
  const { files, who } = await holderSpool(root, caller, set);
  return claimShareFile(files, who, { reclaim: true });
}

/** The holder confirms its download with the code it was shown: the share is wiped and marked fetched. */
export async function confirmDownload(root: string, caller: { uid: number; name: string }, set: PublicShareSet, code: string, now: Date): Promise<number> {
  const { files, who } = await holderSpool(root, caller, set);
  await confirmClaimedShare(files, who, code, now);
  return who.index;
}

// ------------------------------------------------------------------ upload spool (tmpfs)

export interface UploadEntry {
  readonly user: string;
  readonly index: number;
  /** Arrival time: the file's ctime (ms). */
  readonly at: number;
}

export interface UploadWindow {
  /** Uploads of the open window (sorted by index). */
  readonly current: readonly UploadEntry[];
  /** Uploads of closed windows: to be wiped. */
  readonly expired: readonly UploadEntry[];
  /** When the open window closes; undefined when no upload is current. */
  readonly expiresAt: number | undefined;
}

/** Groups uploads into windows (see module comment) and tells which are current at `now`. */
export function uploadWindow(entries: readonly UploadEntry[], now: number, timeoutMs: number): UploadWindow {
  const sorted = [...entries].sort((a, b) => a.at - b.at);
  let start: number | undefined;
  let current: UploadEntry[] = [];
  const expired: UploadEntry[] = [];
  for (const e of sorted) {
    if (start === undefined || e.at >= start + timeoutMs) {
      expired.push(...current);
      current = [];
      start = e.at;
    }
    current.push(e);
  }
  if (start !== undefined && now >= start + timeoutMs) {
    expired.push(...current);
    current = [];
  }
  current.sort((a, b) => a.index - b.index);
  return { current, expired, expiresAt: current.length > 0 && start !== undefined ? start + timeoutMs : undefined };
}

/** Stats every holder's upload (anyone may; only the holder and root can read one). */
export async function listUploads(root: string, holders: readonly ShareHolder[]): Promise<UploadEntry[]> {
  const out: UploadEntry[] = [];
  for (const h of holders) {
    try {
      const st = await lstat(hostLayout(root).shareUploadFile(h.user));
      if (st.isFile()) out.push({ user: h.user, index: h.index, at: st.ctimeMs });
    } catch (error) {
      if (!isMissing(error) && errnoCode(error) !== "EACCES" && errnoCode(error) !== "ENOTDIR") throw error;
    }
  }
  return out;
}

async function requireTmpfs(dir: string, root: string): Promise<void> {
  if (root !== "/" && root !== "") return;
  const fs = await statfs(dir);
  if (fs.type !== TMPFS_MAGIC) {
    throw new ShareError("storage", `${dir} is not on tmpfs; uploaded shares must never reach a disk: mount a tmpfs on /run (systemd does at boot), then run systemd-tmpfiles --create`, ExitCode.Secret);
  }
}

/** Root: creates the upload base (0755) and one directory per holder (owner the holder, 0755). */
export async function ensureUploadDirs(root: string, owners: readonly PasswdEntry[]): Promise<void> {
  const base = hostLayout(root).shareUploadsDir;
  await ensureDir(base, 0o755);
  const wanted = new Set(owners.map((o) => o.name));
  for (const name of await readdir(base)) {
    if (!wanted.has(name)) await wipeUploadDir(join(base, name));
  }
  for (const o of owners) await ensureDir(hostLayout(root).shareUploadDir(o.name), 0o755, o.uid, o.gid);
}

async function wipeUploadDir(dir: string): Promise<void> {
  await removeUserTree(dir);
}

export interface UploadResult {
  readonly setId: string;
  readonly index: number;
  readonly present: number;
  readonly threshold: number;
  readonly expiresAt: number | undefined;
}

/**
 * The holder: verifies `text` (format, checksum, iteration, set, parameters, commitment, issued to the caller)
 * and stores it exclusively in its upload directory. A current upload of the caller makes this a duplicate;
 * an expired one is wiped first.
 */
export async function storeUpload(
  root: string,
  caller: { uid: number; gid: number; name: string },
  text: string,
  set: PublicShareSet,
  now: number,
  timeoutMs = UPLOAD_TIMEOUT_MS,
): Promise<UploadResult> {
  // A share of the previous set is taken too while that set is kept (it recovers the secret if the new set's
  // shares were lost before their holders had them).
  const own = setOfShare(text, set);
  const share = verifyHolderShare(text, own, caller.name);
  const setId = own.record.setId;
  const dir = hostLayout(root).shareUploadDir(caller.name);
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    if (isMissing(error)) {
      throw new ShareError("storage", `the upload directory ${dir} does not exist; ask the operator to run systemd-tmpfiles --create (signstar-configure-build's tmpfiles.d entries make it at boot)`, ExitCode.Config);
    }
    throw error;
  }
  if (!st.isDirectory() || st.uid !== caller.uid || (st.mode & 0o022) !== 0) {
    throw new SecretFileError(`the upload directory ${dir} must be a directory owned by ${caller.name} and writable only by it`, dir);
  }
  await requireTmpfs(dir, root);
  const file = hostLayout(root).shareUploadFile(caller.name);
  const before = uploadWindow(await listUploads(root, set.holders), now, timeoutMs);
  if (before.current.some((e) => e.user === caller.name)) {
    // Still current: the same share twice, or a stale one of another set (replace that).
    let stale = false;
    try {
      const old = (await readCheckedSecretFile(file, caller.uid, MAX_SHARE_TEXT + 2)).toString("utf8");
      verifyShare(old, setOfShare(old, set).record);
    } catch {
      stale = true;
    }
    if (!stale) throw new ShareError("duplicate", `share ${share.index} of set ${setId} has already been uploaded`);
    await wipeFile(file);
  } else if (before.expired.some((e) => e.user === caller.name)) {
    await wipeFile(file);
  }
  const created = await createFileExclusive(file, `${share.line()}\n`, caller.uid, caller.gid);
  if (!created) throw new ShareError("duplicate", `share ${share.index} of set ${setId} has already been uploaded`);
  const after = uploadWindow(await listUploads(root, set.holders), now, timeoutMs);
  return { setId, index: share.index, present: after.current.length, threshold: own.record.threshold, expiresAt: after.expiresAt };
}

export interface CollectedUploads {
  /** Shares of the current set. */
  readonly shares: VerifiedShare[];
  /** Shares of the previous set (while it is kept). */
  readonly previousShares: VerifiedShare[];
  readonly expiresAt: number | undefined;
  /** Holders whose upload was refused (wrong owner/mode, not a valid share of theirs) and wiped. */
  readonly rejected: string[];
  readonly expired: number;
}

/**
 * Root: the verified uploads of the open window. Expired uploads, uploads of another set and damaged or
 * foreign files are wiped (every read enforces the timeout, not only the timer), except with `readOnly`
 * (signstar-configure --dry-run): then they are only left out, so a dry run sees what the real run would use
 * and changes nothing.
 */
export async function collectUploads(
  root: string,
  set: StoredShareSet,
  owners: ReadonlyMap<string, PasswdEntry>,
  now: number,
  timeoutMs = UPLOAD_TIMEOUT_MS,
  opts: { readonly readOnly?: boolean } = {},
): Promise<CollectedUploads> {
  const base = hostLayout(root).shareUploadsDir;
  if (!(await pathExists(base))) return { shares: [], previousShares: [], expiresAt: undefined, rejected: [], expired: 0 };
  const wipe = async (file: string, uid: number | undefined): Promise<void> => {
    if (opts.readOnly !== true) await wipeFile(file, uid);
  };
  const window = uploadWindow(await listUploads(root, set.holders), now, timeoutMs);
  for (const e of window.expired) await wipe(hostLayout(root).shareUploadFile(e.user), owners.get(e.user)?.uid);
  const shares: VerifiedShare[] = [];
  const previousShares: VerifiedShare[] = [];
  const rejected: string[] = [];
  for (const e of window.current) {
    const owner = owners.get(e.user);
    const file = hostLayout(root).shareUploadFile(e.user);
    try {
      if (owner === undefined) throw new Error("unknown holder");
      const text = (await readCheckedSecretFile(file, owner.uid, MAX_SHARE_TEXT + 2, { singleLink: true })).toString("utf8");
      const own = setOfShare(text, set);
      (own === set ? shares : previousShares).push(verifyHolderShare(text, own, e.user));
    } catch {
      rejected.push(e.user);
      await wipe(file, owner?.uid ?? -1);
    }
  }
  return { shares, previousShares, expiresAt: window.expiresAt, rejected, expired: window.expired.length };
}

/**
 * Root: wipes every uploaded share (after use, or when a new share set replaces the old one). Upload directories
 * are the holders' own: only their top-level files are wiped (never following links, never recursing), every
 * entry is tried, and the failures are reported together.
 */
export async function wipeAllUploads(root: string): Promise<number> {
  const failures: string[] = [];
  const wiped = await wipeUploadBase(root, () => false, failures);
  throwWipeFailures(`upload spool ${hostLayout(root).shareUploadsDir}`, failures);
  return wiped;
}

/**
 * One pass over the upload base: stray files are wiped, and in each directory every top-level file except those
 * `keep(directory, entry)` spares (never following links, never recursing). Failures are collected, not thrown.
 */
async function wipeUploadBase(root: string, keep: (dir: string, entry: string) => boolean, failures: string[]): Promise<number> {
  const base = hostLayout(root).shareUploadsDir;
  let names: string[];
  try {
    names = await readdir(base);
  } catch (error) {
    if (isMissing(error)) return 0;
    throw error;
  }
  let wiped = 0;
  for (const name of names) {
    const dir = join(base, name);
    const st = await lstat(dir).catch(() => undefined);
    if (st === undefined) continue;
    if (!st.isDirectory()) {
      await wipeFile(dir).then(() => wiped++, (e: unknown) => failures.push(`${dir}: ${errnoCode(e) ?? String(e)}`));
      continue;
    }
    const report = await wipeEntries(dir, { expectedUid: st.uid, keep: (entry) => keep(name, entry) });
    wiped += report.wiped;
    failures.push(...report.failures);
  }
  return wiped;
}

/** Root, for the timer: wipes expired uploads and anything that is not a holder's share file (see wipeAllUploads). */
export async function wipeExpiredUploads(root: string, set: StoredShareSet | undefined, now: number, timeoutMs = UPLOAD_TIMEOUT_MS): Promise<number> {
  if (set === undefined) return wipeAllUploads(root);
  const layout = hostLayout(root);
  const window = uploadWindow(await listUploads(root, set.holders), now, timeoutMs);
  const failures: string[] = [];
  for (const e of window.expired) {
    const file = layout.shareUploadFile(e.user);
    const st = await lstat(layout.shareUploadDir(e.user)).catch(() => undefined);
    await wipeFile(file, st?.uid ?? -1).catch((error: unknown) => failures.push(`${file}: ${errnoCode(error) ?? String(error)}`));
  }
  const isHolder = (name: string): boolean => set.holders.some((h) => h.user === name);
  const extra = await wipeUploadBase(root, (dir, entry) => isHolder(dir) && entry === "share", failures);
  throwWipeFailures(`upload spool ${layout.shareUploadsDir}`, failures);
  return window.expired.length + extra;
}
