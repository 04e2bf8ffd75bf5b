/**
 * Host-side signature counters per signing user, for signstar-download-metrics.
 *
 * Location: `/var/lib/signstar/metrics/signatures/<user>/counters.json`. The base directory is root 0755; each
 * signing user has its own subdirectory, owned by it, mode 0755 (the user's tmpfiles.d entry from
 * signstar-configure-build: `d /var/lib/signstar/metrics/signatures/<user> 0755 <user> <user> -`). Lock and temporary
 * files live inside that subdirectory, so no other user can pre-create a user's counter file or hold its lock.
 * The reader trusts the figures only if the subdirectory (a real directory) and the file (a regular file, checked
 * on the descriptor) are both owned by the user. Counts are not secret (files 0644).
 *
 * The signing tool calls recordSignatureOutcome() after each request (it never throws: metrics must not break
 * signing). Updates are serialised with a lock file (O_EXCL, broken after 10 s) and written atomically.
 */
import { constants } from "node:fs";
import { chmod, chown, lstat, mkdir, open, rename, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { readCheckedFile } from "../os/read-file.js";

export const MAX_COUNTER_FILE_BYTES = 64 * 1024;
/** Mode of each signing user's counter directory (owned by the user; counts are not secret). */
export const COUNTERS_DIR_MODE = 0o755;
const MAX_KEYS = 64;
const LOCK_STALE_MS = 10_000;
const LOCK_ATTEMPTS = 80;
const LOCK_DELAY_MS = 25;

export interface KeyCounters {
  readonly ok: number;
  readonly error: number;
  /** Unix seconds of the last success / failure (0 = never). */
  readonly lastOk: number;
  readonly lastError: number;
}

export type SignatureCounters = Readonly<Record<string, KeyCounters>>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const COUNTER_FILE_NAME = "counters.json";

/** `<dir>/<user>`: the user's own counter directory. */
export function userCountersDir(dir: string, user: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user) || user.length > 64) throw new Error(`bad user name for a counter file: ${user.slice(0, 64)}`);
  return join(dir, user);
}

function counterFile(dir: string, user: string): string {
  return join(userCountersDir(dir, user), COUNTER_FILE_NAME);
}

/** Whether `<dir>/<user>` is a real directory owned by `uid` that nobody else may write. */
async function ownedDir(path: string, uid: number): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  return st !== undefined && st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0;
}

/**
 * Root (signstar-configure-build, test fixtures): makes `path` (a signing user's counter directory, whose parent
 * is root-owned) a real directory owned by the user, 0755. A symbolic link or a non-directory is refused.
 */
export async function ensureCountersDir(path: string, owner: { readonly uid: number; readonly gid: number }): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true, mode: 0o755 });
  try {
    await mkdir(path, { mode: COUNTERS_DIR_MODE });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const st = await lstat(path);
  if (!st.isDirectory()) throw new Error(`signature counter directory ${path} is not a directory (or a symbolic link)`);
  if (st.uid !== owner.uid || st.gid !== owner.gid) await chown(path, owner.uid, owner.gid);
  if ((st.mode & 0o7777) !== COUNTERS_DIR_MODE) await chmod(path, COUNTERS_DIR_MODE);
}

function nonNegative(v: unknown): number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

/** Parses a counter file; anything malformed yields no counters rather than an error. */
export function parseCounters(text: string): Record<string, KeyCounters> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
  const keys = (v as { keys?: unknown }).keys;
  if (typeof keys !== "object" || keys === null || Array.isArray(keys)) return {};
  const out: Record<string, KeyCounters> = {};
  for (const [k, c] of Object.entries(keys).slice(0, MAX_KEYS)) {
    if (typeof c !== "object" || c === null || k.length > 512) continue;
    const r = c as Record<string, unknown>;
    out[k] = { ok: nonNegative(r.ok), error: nonNegative(r.error), lastOk: nonNegative(r.lastOk), lastError: nonNegative(r.lastError) };
  }
  return out;
}

/** The counter file if it is a regular file owned by `uid` (lib/os/read-file.ts), else undefined. */
async function readOwned(path: string, uid: number): Promise<string | undefined> {
  try {
    return (await readCheckedFile(path, { what: "signature counter file", maxBytes: MAX_COUNTER_FILE_BYTES, owner: uid })).data.toString("utf8");
  } catch {
    return undefined;
  }
}

/** The counters of `user` (uid: its passwd uid), or {} if it has none or the file is not trustworthy. */
export async function readSignatureCounters(dir: string, user: string, uid: number): Promise<Record<string, KeyCounters>> {
  if (!(await ownedDir(userCountersDir(dir, user), uid))) return {};
  const text = await readOwned(counterFile(dir, user), uid);
  return text === undefined ? {} : parseCounters(text);
}

async function lock(path: string): Promise<boolean> {
  for (let i = 0; i < LOCK_ATTEMPTS; i++) {
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      await fh.close();
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") return false;
      const st = await lstat(path).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) await unlink(path).catch(() => undefined);
      else await sleep(LOCK_DELAY_MS);
    }
  }
  return false;
}

export interface RecordOptions {
  readonly dir: string;
  /** The calling (signing) user and its uid. */
  readonly user: string;
  readonly uid: number;
  /** Display name of the key (as in the audit log). */
  readonly key: string;
  readonly outcome: "ok" | "error";
  readonly now: Date;
}

/** Adds one outcome to the caller's counter file. Returns false (and changes nothing) on any problem. */
export async function recordSignatureOutcome(opts: RecordOptions): Promise<boolean> {
  try {
    const userDir = userCountersDir(opts.dir, opts.user);
    if (!(await ownedDir(userDir, opts.uid))) return false;
    const path = join(userDir, COUNTER_FILE_NAME);
    const lockPath = `${path}.lock`;
    if (!(await lock(lockPath))) return false;
    try {
      const current = parseCounters((await readOwned(path, opts.uid)) ?? "{}");
      const c = current[opts.key] ?? { ok: 0, error: 0, lastOk: 0, lastError: 0 };
      const t = Math.floor(opts.now.getTime() / 1000);
      current[opts.key] = opts.outcome === "ok" ? { ...c, ok: c.ok + 1, lastOk: t } : { ...c, error: c.error + 1, lastError: t };
      if (Object.keys(current).length > MAX_KEYS) return false;
      const temp = join(userDir, `.${COUNTER_FILE_NAME}.${randomBytes(6).toString("hex")}.tmp`);
      const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      try {
        await fh.chmod(0o644);
        await fh.writeFile(JSON.stringify({ version: 1, keys: current }));
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await rename(temp, path);
      } catch {
        await unlink(temp).catch(() => undefined);
        return false;
      }
      return true;
    } finally {
      await unlink(lockPath).catch(() => undefined);
    }
  } catch {
    return false;
  }
}
