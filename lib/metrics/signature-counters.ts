/**
 * Host-side signature counters per signing user, for signstar-download-metrics.
 *
 * Location: `/var/lib/signstar/metrics/signatures/<user>.json`. The directory is root-owned with mode 1733
 * (tmpfiles.d: `d /var/lib/signstar/metrics/signatures 1733 root root -`): every signing user can create its
 * own file, nobody can list the directory, and the sticky bit keeps users from replacing each other's files.
 * A file counts only if it is a regular file owned by the user it is named after (checked on the descriptor by
 * the reader), so a user cannot forge another user's figures. Counts are not secret (files 0644).
 *
 * The signing tool calls recordSignatureOutcome() after each request (it never throws: metrics must not break
 * signing). Updates are serialised with a lock file (O_EXCL, broken after 10 s) and written atomically.
 */
import { constants } from "node:fs";
import { lstat, open, rename, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

export const MAX_COUNTER_FILE_BYTES = 64 * 1024;
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

function counterFile(dir: string, user: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user) || user.length > 64) throw new Error(`bad user name for a counter file: ${user.slice(0, 64)}`);
  return join(dir, `${user}.json`);
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

async function readOwned(path: string, uid: number): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.uid !== uid || st.size > MAX_COUNTER_FILE_BYTES) return undefined;
    // Bounded on the descriptor too: the owner could keep appending while we read.
    const buffer = Buffer.alloc(MAX_COUNTER_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_COUNTER_FILE_BYTES) return undefined;
    }
    return buffer.subarray(0, length).toString("utf8");
  } finally {
    await fh.close();
  }
}

/** The counters of `user` (uid: its passwd uid), or {} if it has none or the file is not trustworthy. */
export async function readSignatureCounters(dir: string, user: string, uid: number): Promise<Record<string, KeyCounters>> {
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
    const path = counterFile(opts.dir, opts.user);
    const lockPath = `${path}.lock`;
    if (!(await lock(lockPath))) return false;
    try {
      const current = parseCounters((await readOwned(path, opts.uid)) ?? "{}");
      const c = current[opts.key] ?? { ok: 0, error: 0, lastOk: 0, lastError: 0 };
      const t = Math.floor(opts.now.getTime() / 1000);
      current[opts.key] = opts.outcome === "ok" ? { ...c, ok: c.ok + 1, lastOk: t } : { ...c, error: c.error + 1, lastError: t };
      if (Object.keys(current).length > MAX_KEYS) return false;
      const temp = join(opts.dir, `.${opts.user}.json.${randomBytes(6).toString("hex")}.tmp`);
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
