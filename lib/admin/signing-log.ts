/**
 * `signstar-admin log`: the signing log for monitoring (docs/tlog.md). Reads the log directory as any user may (the
 * log is public), and trusts nothing in it: the checkpoint's note signature is checked with the verifier key
 * signstar-configure wrote (log.vkey), every entry bundle against its level-0 tile, and the tree root recomputed
 * from every entry against the signed root (RFC 9162 §2.1.1) before a line is printed.
 *
 * - `list`: one line per entry, `<index> <time> <user> <key fingerprint> <digest>` (void entries: `<index> <time>
 *   <user> void`), filtered by key, user and first index, at most `limit` lines;
 * - `export DIR`: the checkpoint and exactly the tiles and bundles of the tree it signs (C2SP tlog-tiles paths;
 *   a partial tile superseded by its full tile is cut back to the checkpoint's width), checkpoint last, then the
 *   copy is verified like the original.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ExitCode, SignstarError, UsageError } from "../errors.js";
import { errnoCode } from "../os/errno.js";
import type { Checkpoint } from "../tlog/checkpoint.js";
import { decodeEntry, type LogEntry } from "../tlog/entry.js";
import { LogVerifyError } from "../tlog/errors.js";
import { HASH_SIZE, hashEqual, leafHash, nodeHash, EMPTY_ROOT } from "../tlog/merkle.js";
import { parseVerifierKey } from "../tlog/note.js";
import { directoryFetch, fetchCheckpoint } from "../tlog/reader.js";
import { decodeBundle, encodeBundle, fetchTile, nodesAtTileLevel, tileFor, tileHashes, tilePath, TILE_WIDTH, type LogFetch, type TileRef } from "../tlog/tiles.js";

/** The most lines one `list` prints (and its default). */
export const MAX_LIST_LIMIT = 100_000;
export const DEFAULT_LIST_LIMIT = 1000;

export interface ListFilter {
  /** OpenPGP fingerprint, any case (40 or 64 hex digits). */
  readonly key?: string;
  readonly user?: string;
  /** First index to print. */
  readonly since?: number;
  readonly limit?: number;
}

export interface ListResult {
  readonly lines: readonly string[];
  /** The checkpoint's size: entries 0 … size-1 were verified. */
  readonly size: number;
  /** When more entries matched than `limit`: the index to continue with (`--since`). */
  readonly next?: number;
}

/** RFC 9162 root of a growing list of leaves, kept as the perfect subtrees on its right edge (O(log n) memory). */
class StreamingRoot {
  private readonly stack: { hash: Uint8Array; size: number }[] = [];
  push(leaf: Uint8Array): void {
    let node = { hash: leaf, size: 1 };
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.size === node.size) {
      const left = this.stack.pop()!;
      node = { hash: nodeHash(left.hash, node.hash), size: left.size * 2 };
    }
    this.stack.push(node);
  }
  root(): Uint8Array {
    if (this.stack.length === 0) return EMPTY_ROOT;
    let right = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) right = nodeHash(this.stack[i]!.hash, right);
    return right;
  }
}

/**
 * Walks every entry of the tree `checkpoint` signs, in order, checking each bundle against its level-0 tile and
 * the recomputed root against the signed one; `visit` sees each entry, but nothing it collected may be used unless
 * this resolves.
 */
async function walkVerified(fetch: LogFetch, checkpoint: Checkpoint, visit: (index: number, entry: Uint8Array, bundle: TileRef, level0: TileRef) => void): Promise<void> {
  const root = new StreamingRoot();
  const bundles = Math.ceil(checkpoint.size / TILE_WIDTH);
  for (let k = 0; k < bundles; k++) {
    const ref = tileFor("entries", k, checkpoint.size);
    const entries = decodeBundle(await fetchTile(fetch, ref), ref.width);
    const level0 = tileFor(0, k, checkpoint.size);
    const hashes = tileHashes(await fetchTile(fetch, level0), level0.width);
    entries.forEach((entry, i) => {
      const leaf = leafHash(entry);
      if (!hashEqual(leaf, hashes[i]!)) throw new LogVerifyError(`entry ${k * TILE_WIDTH + i} does not match its hash in ${tilePath(level0)}`);
      root.push(leaf);
      visit(k * TILE_WIDTH + i, entry, ref, level0);
    });
  }
  if (!hashEqual(root.root(), checkpoint.root)) throw new LogVerifyError(`the log's entries do not hash to the root its checkpoint signs (size ${checkpoint.size})`);
}

function checkFilter(filter: ListFilter): { key?: string; user?: string; since: number; limit: number } {
  const key = filter.key?.toLowerCase();
  if (key !== undefined && !/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(key)) throw new UsageError("--key must be an OpenPGP fingerprint (40 or 64 hex digits)");
  if (filter.user !== undefined && !/^[a-z_][a-z0-9_-]{0,31}\$?$/i.test(filter.user)) throw new UsageError("--user must be a Unix user name");
  const since = filter.since ?? 0;
  if (!Number.isSafeInteger(since) || since < 0) throw new UsageError("--since must be an entry index (0 or more)");
  const limit = filter.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw new UsageError(`--limit must be 1 to ${MAX_LIST_LIMIT}`);
  return { ...(key !== undefined ? { key } : {}), ...(filter.user !== undefined ? { user: filter.user } : {}), since, limit };
}

const isoSeconds = (unix: number): string => new Date(unix * 1000).toISOString().replace(/\.000Z$/, "Z");

function entryLine(index: number, e: LogEntry): string {
  if (e.kind === "void") return `${index} ${isoSeconds(e.reserved)} ${e.user} void`;
  return `${index} ${isoSeconds(e.created)} ${e.user} ${e.key} ${e.digest}`;
}

/** `list`: the verified entries that pass `filter` (see the module comment). */
export async function listLog(dir: string, verifierKey: string, filter: ListFilter): Promise<ListResult> {
  const f = checkFilter(filter);
  const fetch = directoryFetch(dir);
  const { checkpoint } = await fetchCheckpoint(fetch, parseVerifierKey(verifierKey));
  const lines: string[] = [];
  let next: number | undefined;
  await walkVerified(fetch, checkpoint, (index, bytes) => {
    if (index < f.since || next !== undefined) return;
    const e = decodeEntry(bytes);
    if (f.user !== undefined && e.user !== f.user) return;
    if (f.key !== undefined && (e.kind !== "signature" || e.key !== f.key)) return;
    if (lines.length === f.limit) next = index;
    else lines.push(entryLine(index, e));
  });
  return { lines, size: checkpoint.size, ...(next !== undefined ? { next } : {}) };
}

/** `export DIR`: see the module comment. DIR must not exist or be empty. Returns the exported tree size. */
export async function exportLog(dir: string, verifierKey: string, target: string): Promise<number> {
  const verifier = parseVerifierKey(verifierKey);
  const fetch = directoryFetch(dir);
  const { checkpoint, note } = await fetchCheckpoint(fetch, verifier);
  try {
    await mkdir(target, { mode: 0o755 });
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw new SignstarError(`cannot create ${target}: ${(error as Error).message}`, ExitCode.Config);
    if ((await readdir(target)).length > 0) throw new UsageError(`${target} is not empty; export into a new directory`);
  }
  const write = async (ref: TileRef, data: Uint8Array): Promise<void> => {
    const path = join(target, tilePath(ref));
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, data, { mode: 0o644, flag: "wx" });
  };
  // Entry bundles and level-0 tiles as the walk verifies them; then the higher levels of this tree.
  await walkVerified(fetch, checkpoint, () => undefined);
  for (let k = 0; k < Math.ceil(checkpoint.size / TILE_WIDTH); k++) {
    const ref = tileFor("entries", k, checkpoint.size);
    await write(ref, encodeBundle(decodeBundle(await fetchTile(fetch, ref), ref.width)));
  }
  for (let level = 0; nodesAtTileLevel(level, checkpoint.size) > 0; level++) {
    for (let k = 0; k < Math.ceil(nodesAtTileLevel(level, checkpoint.size) / TILE_WIDTH); k++) {
      const ref = tileFor(level, k, checkpoint.size);
      await write(ref, (await fetchTile(fetch, ref)).subarray(0, ref.width * HASH_SIZE));
    }
  }
  await writeFile(join(target, "checkpoint"), note, { mode: 0o644, flag: "wx" });
  // The copy is checked like the original: what was written is what the checkpoint signs.
  const copy = directoryFetch(target);
  const { checkpoint: copied } = await fetchCheckpoint(copy, verifier);
  await walkVerified(copy, copied, () => undefined);
  return checkpoint.size;
}
