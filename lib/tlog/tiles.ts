/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the tree is stored as tiles of height 8 (up to 256 hashes of one
 * tree level, `tile/<L>/<N>[.p/<W>]`) and the entries as bundles of up to 256 (`tile/entries/<N>[.p/<W>]`, each
 * entry a big-endian uint16 length and its bytes). <N> is written in groups of three digits, all but the last
 * prefixed with `x` (1234067 is `x001/x234/067`); `.p/<W>` marks a partial tile of W (1..255) hashes or entries.
 * The tile at level L holds the hashes of tree level 8·L: level 0 holds the leaf hashes.
 *
 * This module is the one grammar of these paths (for the writer, the readers and the `log_reader` role, which
 * serves only what `parseLogPath` accepts) and the hash source over tiles that the proofs are generated from.
 */
import { LogFormatError, LogVerifyError } from "./errors.js";
import { completeTreeHash, HASH_SIZE, type SubtreeHashes } from "./merkle.js";

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** Levels above this hold no tile for any tree below 2^64 entries. */
export const MAX_TILE_LEVEL = 63;
/** The largest entry a bundle can hold (uint16 length). */
export const MAX_BUNDLE_ENTRY = 0xffff;

/** A tile (level 0..63) or an entry bundle (level "entries"), with its width (1..256, 256 = full). */
export interface TileRef {
  readonly level: number | "entries";
  readonly index: number;
  readonly width: number;
}

export type LogPath = { readonly kind: "checkpoint" } | ({ readonly kind: "tile" } & TileRef);

/** `x001/x234/067` for 1234067. */
export function encodeTileIndex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad tile index ${n}`);
  let s = String(n % 1000).padStart(3, "0");
  for (let rest = Math.floor(n / 1000); rest > 0; rest = Math.floor(rest / 1000)) s = `x${String(rest % 1000).padStart(3, "0")}/${s}`;
  return s;
}

export function tilePath(t: TileRef): string {
  const base = `tile/${t.level === "entries" ? "entries" : String(t.level)}/${encodeTileIndex(t.index)}`;
  return t.width === TILE_WIDTH ? base : `${base}.p/${t.width}`;
}

const PATH_RE = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/){0,4}[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses `checkpoint`, `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` strictly: canonical digits only (no
 * leading zeros outside the 3-digit groups, no leading `x000/`), L <= 63, W 1..255, at most 256 characters. Anything
 * else (`..`, `//`, absolute paths, other files) is a LogFormatError, so a path that parses names exactly one file
 * inside the log directory.
 */
export function parseLogPath(path: string): LogPath {
  if (path === "checkpoint") return { kind: "checkpoint" };
  const m = path.length <= 256 ? PATH_RE.exec(path) : null;
  if (!m) throw new LogFormatError(`not a log path (checkpoint, tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]): ${JSON.stringify(path.slice(0, 80))}`);
  const groups = m[2]!.split("/").map((g) => g.replace(/^x/, ""));
  if (groups.length > 1 && groups[0] === "000") throw new LogFormatError(`not a canonical tile index: ${path}`);
  const index = groups.reduce((acc, g) => acc * 1000 + Number(g), 0);
  const level = m[1] === "entries" ? "entries" : Number(m[1]);
  if (level !== "entries" && level > MAX_TILE_LEVEL) throw new LogFormatError(`tile level above ${MAX_TILE_LEVEL}: ${path}`);
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (m[3] !== undefined && width >= TILE_WIDTH) throw new LogFormatError(`partial width must be 1..255: ${path}`);
  return { kind: "tile", level, index, width };
}

/** Nodes of tree level 8·level in a tree of `size` leaves. */
export function nodesAtTileLevel(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/** The tile (or bundle, with level "entries" counted as 0) with index `index` as it is for tree size `size`. */
export function tileFor(level: number | "entries", index: number, size: number): TileRef {
  const count = nodesAtTileLevel(level === "entries" ? 0 : level, size);
  const width = Math.min(TILE_WIDTH, count - index * TILE_WIDTH);
  if (width <= 0) throw new RangeError(`tile ${String(level)}/${index} is empty at tree size ${size}`);
  return { level, index, width };
}

/** Entry bundle bytes: each entry as a big-endian uint16 length and the entry. */
export function encodeBundle(entries: readonly Uint8Array[]): Uint8Array {
  const total = entries.reduce((n, e) => n + 2 + e.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of entries) {
    if (e.length > MAX_BUNDLE_ENTRY) throw new LogFormatError(`log entry of ${e.length} bytes exceeds ${MAX_BUNDLE_ENTRY}`);
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/** Splits an entry bundle; it must hold exactly `width` entries and nothing after them (when width is given). */
export function decodeBundle(data: Uint8Array, width?: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + 2 > data.length) throw new LogVerifyError("entry bundle ends inside a length prefix");
    const len = (data[at]! << 8) | data[at + 1]!;
    if (at + 2 + len > data.length) throw new LogVerifyError("entry bundle ends inside an entry");
    out.push(data.subarray(at + 2, at + 2 + len));
    at += 2 + len;
    if (width !== undefined && out.length === width) break;
  }
  if (width !== undefined && out.length !== width) throw new LogVerifyError(`entry bundle holds ${out.length} entries, ${width} expected`);
  return out;
}

/** Splits a hash tile of `width` hashes (a full tile fetched for a partial one may hold more; they are ignored). */
export function tileHashes(data: Uint8Array, width: number): Uint8Array[] {
  if (data.length < width * HASH_SIZE || data.length % HASH_SIZE !== 0) {
    throw new LogVerifyError(`tile of ${data.length} bytes cannot hold ${width} hashes`);
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < width; i++) out.push(data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/**
 * Reads one file of a log by its path (`checkpoint`, a tile or bundle path): a directory, an SSH connection to a
 * `log_reader`, a test's in-memory copy. Returns undefined when the file does not exist.
 */
export type LogFetch = (path: string) => Promise<Uint8Array | undefined>;

/**
 * Fetches a tile or bundle as it is for some tree size: the partial path first, then (when a partial tile was
 * superseded and deleted) the full tile, truncated (C2SP tlog-tiles allows either).
 */
export async function fetchTile(fetch: LogFetch, t: TileRef): Promise<Uint8Array> {
  const exact = await fetch(tilePath(t));
  if (exact !== undefined) return exact;
  if (t.width < TILE_WIDTH) {
    const full = await fetch(tilePath({ ...t, width: TILE_WIDTH }));
    if (full !== undefined) return full;
  }
  throw new LogVerifyError(`the log does not have ${tilePath(t)}`);
}

/**
 * The subtree hashes of the tree of `size` leaves, read from its tiles (cached per tile). A tile that holds the
 * wrong bytes makes a proof fail against the signed root hash, never pass.
 */
export function tileHashSource(fetch: LogFetch, size: number): SubtreeHashes {
  const cache = new Map<string, Promise<Uint8Array[]>>();
  const tile = (level: number, index: number): Promise<Uint8Array[]> => {
    const ref = tileFor(level, index, size);
    const key = tilePath(ref);
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = fetchTile(fetch, ref).then((data) => tileHashes(data, ref.width));
      cache.set(key, hit);
    }
    return hit;
  };
  return {
    async subtree(level: number, index: number): Promise<Uint8Array> {
      const tileLevel = Math.floor(level / TILE_HEIGHT);
      const span = 2 ** (level % TILE_HEIGHT);
      const first = index * span;
      const hashes = await tile(tileLevel, Math.floor(first / TILE_WIDTH));
      const offset = first % TILE_WIDTH;
      const row = hashes.slice(offset, offset + span);
      if (row.length !== span) throw new LogVerifyError(`tile at level ${tileLevel} is too short for subtree ${level}/${index}`);
      return completeTreeHash(row);
    },
  };
}
