/**
 * The log writer: hands out indexes (`reserve`), takes entries for them (`commit`) and resolves a commit only once
 * its entry is durable: entry bundles and tiles are written to temporary files, fsync'ed and renamed into place,
 * their directories fsync'ed, and only then the new signed checkpoint is renamed over the old one and its
 * directory fsync'ed. The checkpoint is the commit point: after a crash at any moment the log is the tree of the
 * last checkpoint, whose tiles and bundles were durable before it; files an interrupted batch left beyond it are
 * rewritten by later batches. Commits are batched (group commit): all entries ready when a batch starts share its
 * fsyncs and its one checkpoint.
 *
 * Entries are appended in index order, so a commit waits for every lower reservation; a reservation that is not
 * committed within `reservationTimeoutMs` (or is released) becomes a void entry, which keeps indexes dense and
 * bounds the wait. When writing fails the writer fails closed: every pending and later call is refused.
 *
 * One writer per directory (a lock file with the writer's pid; a dead writer's lock is taken over).
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { syncDirectory } from "../os/atomic-file.js";
import { errnoCode, isMissing } from "../os/errno.js";
import { openCheckpoint, signCheckpoint, type Checkpoint } from "./checkpoint.js";
import { encodeEntry, type LogEntry } from "./entry.js";
import { LogError, LogFormatError } from "./errors.js";
import { completeTreeHash, EMPTY_ROOT, hashEqual, leafHash, rangeHash, type SubtreeHashes } from "./merkle.js";
import { parseVerifierKey, type NoteSigner } from "./note.js";
import { directoryFetch } from "./reader.js";
import { decodeBundle, encodeBundle, fetchTile, nodesAtTileLevel, tileHashes, tilePath, TILE_HEIGHT, TILE_WIDTH, type TileRef } from "./tiles.js";

export interface LogWriterOptions {
  readonly dir: string;
  readonly signer: NoteSigner;
  /** The log's origin; must be the signer's key name (one name for the log and its key). Default: that name. */
  readonly origin?: string;
  /** How long the first commit of a batch waits for more (default 2 ms; 0 with maxBatch 1 is unbatched). */
  readonly batchWindowMs?: number;
  /** Most entries per batch (default 1024). */
  readonly maxBatch?: number;
  /** A reservation not committed within this becomes a void entry (default 30 s). */
  readonly reservationTimeoutMs?: number;
  /** Most reservations outstanding at once (default 4096); more are refused. */
  readonly maxReservations?: number;
  /** The clock, in milliseconds (default Date.now). */
  readonly now?: () => number;
}

export interface Reservation {
  readonly index: number;
  readonly user: string;
}

export interface LogWriterStats {
  readonly size: number;
  /** Milliseconds since the epoch of the last checkpoint written by this writer (undefined before the first). */
  readonly lastCheckpointMs: number | undefined;
  readonly batches: number;
  readonly appendedEntries: number;
  /** Sum of the time from commit to durable over all committed entries, in milliseconds. */
  readonly appendLatencySumMs: number;
}

interface Slot {
  readonly user: string;
  readonly reservedMs: number;
  timer: NodeJS.Timeout | undefined;
  entry: Uint8Array | undefined;
  voided: boolean;
  committedMs: number;
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

const TMP_DIR = ".tmp";
/** The writer's figures (LogWriterStats as JSON) for the metrics export, beside the log. */
export const STATS_FILE = "writer-stats.json";
const LOCK_FILE = ".lock";
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

export class LogWriter {
  readonly origin: string;
  readonly #dir: string;
  readonly #signer: NoteSigner;
  readonly #window: number;
  readonly #maxBatch: number;
  readonly #timeout: number;
  readonly #maxReservations: number;
  readonly #now: () => number;
  #size: number;
  #edge: Uint8Array[][];
  #bundle: Uint8Array[];
  #checkpoint: Uint8Array;
  #next: number;
  readonly #slots = new Map<number, Slot>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failure: LogError | undefined;
  #closed = false;
  #statsWrittenMs = 0;
  #stats = { lastCheckpointMs: undefined as number | undefined, batches: 0, appendedEntries: 0, appendLatencySumMs: 0 };

  private constructor(opts: LogWriterOptions, state: { size: number; edge: Uint8Array[][]; bundle: Uint8Array[]; checkpoint: Uint8Array }) {
    this.origin = opts.signer.name;
    this.#dir = opts.dir;
    this.#signer = opts.signer;
    this.#window = opts.batchWindowMs ?? 2;
    this.#maxBatch = opts.maxBatch ?? 1024;
    this.#timeout = opts.reservationTimeoutMs ?? 30_000;
    this.#maxReservations = opts.maxReservations ?? 4096;
    this.#now = opts.now ?? Date.now;
    this.#size = state.size;
    this.#next = state.size;
    this.#edge = state.edge;
    this.#bundle = state.bundle;
    this.#checkpoint = state.checkpoint;
  }

  /**
   * Opens (creating when empty) the log in `dir`: takes the lock, drops temporary files of an interrupted batch,
   * verifies the checkpoint with the signer's own key and recomputes its root hash from the rightmost tiles and
   * entry bundle. A log whose files do not match its checkpoint is refused (LogError), never repaired.
   */
  static async open(opts: LogWriterOptions): Promise<LogWriter> {
    if (opts.origin !== undefined && opts.origin !== opts.signer.name) {
      throw new LogFormatError(`log origin ${JSON.stringify(opts.origin)} is not the log key's name ${JSON.stringify(opts.signer.name)}`);
    }
    if ((opts.maxBatch ?? 1) < 1 || (opts.batchWindowMs ?? 0) < 0) throw new LogFormatError("maxBatch must be at least 1 and batchWindowMs not negative");
    await mkdir(opts.dir, { recursive: true, mode: DIR_MODE });
    await takeLock(opts.dir);
    try {
      await rm(join(opts.dir, TMP_DIR), { recursive: true, force: true });
      await mkdir(join(opts.dir, TMP_DIR), { mode: 0o700 });
      const state = await recover(opts.dir, opts.signer);
      const writer = new LogWriter(opts, state);
      if (state.fresh) await writer.#publish(writer.#checkpointFor(0, EMPTY_ROOT), new Map(), []);
      return writer;
    } catch (error) {
      await unlink(join(opts.dir, LOCK_FILE)).catch(() => undefined);
      throw error;
    }
  }

  /** The number of durable entries (the size of the last checkpoint). */
  get size(): number {
    return this.#size;
  }

  /** The last signed checkpoint, as written to `<dir>/checkpoint`. */
  get checkpoint(): Uint8Array {
    return this.#checkpoint;
  }

  get verifierKey(): string {
    return this.#signer.verifierKey;
  }

  stats(): LogWriterStats {
    return { size: this.#size, ...this.#stats };
  }

  /** Hands out the next index for `user`. It must be committed (or released) within the reservation timeout. */
  reserve(user: string): Reservation {
    this.#usable();
    encodeEntry({ kind: "void", user, reserved: 0 });
    if (this.#slots.size >= this.#maxReservations) throw new LogError(`the log has ${this.#slots.size} reservations outstanding; try again later`);
    const index = this.#next++;
    const slot: Slot = { user, reservedMs: this.#now(), timer: undefined, entry: undefined, voided: false, committedMs: 0, waiters: [] };
    slot.timer = setTimeout(() => this.#void(index), this.#timeout);
    slot.timer.unref();
    this.#slots.set(index, slot);
    return { index, user };
  }

  /**
   * Appends `entry` at the reserved `index`; resolves once it is durable in a signed checkpoint. A signature entry
   * must name the reserving user. Rejects (LogError) when the reservation expired, was used, or the log failed.
   */
  commit(index: number, entry: LogEntry): Promise<void> {
    this.#usable();
    const slot = this.#slots.get(index);
    if (slot === undefined || slot.entry !== undefined) throw new LogError(`log index ${index} is not reserved (expired, released or used)`);
    if (entry.user !== slot.user) throw new LogError(`log index ${index} was reserved by ${slot.user}, not ${entry.user}`);
    const bytes = encodeEntry(entry);
    clearTimeout(slot.timer);
    slot.entry = bytes;
    slot.committedMs = this.#now();
    const done = new Promise<void>((resolve, reject) => slot.waiters.push({ resolve, reject }));
    this.#schedule();
    return done;
  }

  /** Gives up a reservation now (signing failed): the index becomes a void entry. */
  release(index: number): void {
    const slot = this.#slots.get(index);
    if (slot !== undefined && slot.entry === undefined) this.#void(index);
  }

  /** Voids the outstanding reservations, writes what is pending, and releases the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const [index, slot] of this.#slots) if (slot.entry === undefined) this.#void(index);
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#failure === undefined && this.#slots.size > 0) {
      await (this.#flushing ?? this.#flush());
    }
    this.#statsWrittenMs = 0;
    await this.#writeStats(this.#now());
    await unlink(join(this.#dir, LOCK_FILE)).catch(() => undefined);
  }

  #usable(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new LogError("the log writer is closed");
  }

  #void(index: number): void {
    const slot = this.#slots.get(index);
    if (slot === undefined || slot.entry !== undefined) return;
    clearTimeout(slot.timer);
    slot.voided = true;
    slot.entry = encodeEntry({ kind: "void", user: slot.user, reserved: Math.floor(slot.reservedMs / 1000) });
    slot.committedMs = this.#now();
    this.#schedule();
  }

  #ready(): number {
    let n = 0;
    while (n < this.#maxBatch && this.#slots.get(this.#size + n)?.entry !== undefined) n++;
    return n;
  }

  #schedule(): void {
    if (this.#flushing !== undefined) return;
    if (this.#ready() >= this.#maxBatch || this.#window === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      void this.#flush();
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flush();
    }, this.#window);
  }

  #flush(): Promise<void> {
    if (this.#flushing !== undefined) return this.#flushing;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const run = (async () => {
      const count = this.#ready();
      if (count === 0 || this.#failure !== undefined) return;
      const batch = Array.from({ length: count }, (_, k) => this.#slots.get(this.#size + k)!);
      try {
        await this.#append(batch.map((s) => s.entry!));
      } catch (error) {
        this.#failure = new LogError(`the log in ${this.#dir} could not be written, so nothing more is signed: ${errnoCode(error) ?? String(error)}`, undefined, { cause: error });
        for (const slot of this.#slots.values()) {
          clearTimeout(slot.timer);
          for (const w of slot.waiters) w.reject(this.#failure);
        }
        this.#slots.clear();
        return;
      }
      const now = this.#now();
      for (let k = 0; k < count; k++) {
        const slot = batch[k]!;
        this.#slots.delete(this.#size - count + k);
        if (!slot.voided) this.#stats.appendLatencySumMs += now - slot.committedMs;
        for (const w of slot.waiters) w.resolve();
      }
      this.#stats.batches++;
      this.#stats.appendedEntries += count;
      await this.#writeStats(now);
    })();
    const settled: Promise<void> = run.catch(() => undefined).finally(() => {
      this.#flushing = undefined;
      if (this.#ready() > 0) {
        // Group commit: what arrived during this batch's fsyncs goes out at once.
        void this.#flush();
      }
    });
    this.#flushing = settled;
    return settled;
  }

  /**
   * The writer's figures for the metrics export (signstar-download-metrics reads STATS_FILE), at most once a
   * second and without fsync: they are monitoring, not log data (and no log path names them, so they are not served).
   */
  async #writeStats(now: number): Promise<void> {
    if (now - this.#statsWrittenMs < 1000) return;
    this.#statsWrittenMs = now;
    const temp = join(this.#dir, TMP_DIR, `stats.${randomBytes(4).toString("hex")}`);
    try {
      await writeFile(temp, `${JSON.stringify(this.stats())}\n`, { mode: FILE_MODE });
      await rename(temp, join(this.#dir, STATS_FILE));
    } catch {
      await unlink(temp).catch(() => undefined);
    }
  }

  #checkpointFor(size: number, root: Uint8Array): Checkpoint {
    return { origin: this.origin, size, root, extensions: [] };
  }

  /** Appends `entries` to copies of the edge, writes the changed tiles and bundles, then the checkpoint. */
  async #append(entries: Uint8Array[]): Promise<void> {
    const edge = this.#edge.map((row) => [...row]);
    let bundle = [...this.#bundle];
    const writes = new Map<string, Uint8Array>();
    const completed: TileRef[] = [];
    const dirty = new Set<number>();
    let size = this.#size;
    for (const entry of entries) {
      bundle.push(entry);
      if (bundle.length === TILE_WIDTH) {
        const ref: TileRef = { level: "entries", index: Math.floor(size / TILE_WIDTH), width: TILE_WIDTH };
        writes.set(tilePath(ref), encodeBundle(bundle));
        completed.push(ref);
        bundle = [];
      }
      let hash = leafHash(entry);
      let index = size;
      for (let level = 0; ; level++) {
        const row = (edge[level] ??= []);
        row.push(hash);
        dirty.add(level);
        if (row.length < TILE_WIDTH) break;
        const ref: TileRef = { level, index: Math.floor(index / TILE_WIDTH), width: TILE_WIDTH };
        writes.set(tilePath(ref), Buffer.concat(row));
        completed.push(ref);
        hash = completeTreeHash(row);
        edge[level] = [];
        index = Math.floor(index / TILE_WIDTH);
      }
      size++;
    }
    if (bundle.length > 0) writes.set(tilePath({ level: "entries", index: Math.floor(size / TILE_WIDTH), width: bundle.length }), encodeBundle(bundle));
    for (const level of dirty) {
      const row = edge[level]!;
      if (row.length > 0) writes.set(tilePath({ level, index: Math.floor(nodesAtTileLevel(level, size) / TILE_WIDTH), width: row.length }), Buffer.concat(row));
    }
    const root = await rangeHash(edgeSource(edge, size), 0, size);
    await this.#publish(this.#checkpointFor(size, root), writes, completed);
    this.#edge = edge;
    this.#bundle = bundle;
    this.#size = size;
  }

  /** Makes `writes` durable, then the checkpoint; then drops the partial files of tiles that became full. */
  async #publish(checkpoint: Checkpoint, writes: Map<string, Uint8Array>, completed: TileRef[]): Promise<void> {
    const note = await signCheckpoint(checkpoint, this.#signer);
    const dirs = new Set<string>();
    await Promise.all(
      [...writes].map(async ([path, data]) => {
        const target = join(this.#dir, path);
        await mkdir(dirname(target), { recursive: true, mode: DIR_MODE });
        for (let d = dirname(target); relative(this.#dir, d) !== ""; d = dirname(d)) dirs.add(d);
        await this.#writeDurable(target, data);
      }),
    );
    await Promise.all([...dirs].map((d) => syncDirectory(d)));
    if (writes.size > 0) await syncDirectory(this.#dir);
    await this.#writeDurable(join(this.#dir, "checkpoint"), note);
    await syncDirectory(this.#dir);
    this.#checkpoint = note;
    this.#stats.lastCheckpointMs = this.#now();
    // Superseded partial tiles are no longer needed by anyone with this checkpoint (readers fall back to the
    // full tile, C2SP tlog-tiles); dropping them is best effort.
    await Promise.all(completed.map((ref) => rm(join(this.#dir, `${tilePath(ref)}.p`), { recursive: true, force: true }).catch(() => undefined)));
  }

  /** Writes a file under .tmp/, fsyncs it and renames it to `target` (the directory fsync is the caller's). */
  async #writeDurable(target: string, data: Uint8Array): Promise<void> {
    const temp = join(this.#dir, TMP_DIR, randomBytes(8).toString("hex"));
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
    try {
      await handle.chmod(FILE_MODE);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  }
}

/** The subtree hashes a root needs, from the rightmost tile of each level (which are all it needs). */
function edgeSource(edge: Uint8Array[][], size: number): SubtreeHashes {
  return {
    async subtree(level: number, index: number): Promise<Uint8Array> {
      const tileLevel = Math.floor(level / TILE_HEIGHT);
      const span = 2 ** (level % TILE_HEIGHT);
      const first = index * span;
      const base = Math.floor(nodesAtTileLevel(tileLevel, size) / TILE_WIDTH) * TILE_WIDTH;
      const row = (edge[tileLevel] ?? []).slice(first - base, first - base + span);
      if (first < base || row.length !== span) throw new LogError(`internal: subtree ${level}/${index} is not on the right edge of the tree`);
      return completeTreeHash(row);
    },
  };
}

async function takeLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return;
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") throw error;
    }
    const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
    if (Number.isSafeInteger(pid) && pid > 0 && processAlive(pid)) throw new LogError(`the log in ${dir} is open by process ${pid}`);
    await unlink(path).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }
  throw new LogError(`cannot take the lock of the log in ${dir}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== "ESRCH";
  }
}

/** The state of the log in `dir` at its checkpoint, checked against it (see LogWriter.open). */
async function recover(dir: string, signer: NoteSigner): Promise<{ size: number; edge: Uint8Array[][]; bundle: Uint8Array[]; checkpoint: Uint8Array; fresh: boolean }> {
  const fetch = directoryFetch(dir);
  const note = await fetch("checkpoint");
  if (note === undefined) {
    const tileDirExists = await readdir(join(dir, "tile")).then(
      () => true,
      (error: unknown) => (isMissing(error) ? false : Promise.reject(error)),
    );
    if (tileDirExists) throw new LogError(`the log in ${dir} has tiles but no checkpoint; refusing to start over`);
    return { size: 0, edge: [], bundle: [], checkpoint: new Uint8Array(), fresh: true };
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(note, parseVerifierKey(signer.verifierKey));
  } catch (error) {
    throw new LogError(`the checkpoint of the log in ${dir} does not verify with the log key: ${error instanceof Error ? error.message : String(error)}`, undefined, { cause: error });
  }
  const size = checkpoint.size;
  const edge: Uint8Array[][] = [];
  try {
    for (let level = 0; nodesAtTileLevel(level, size) > 0; level++) {
      const count = nodesAtTileLevel(level, size);
      const width = count % TILE_WIDTH;
      const ref: TileRef = { level, index: Math.floor(count / TILE_WIDTH), width };
      edge.push(width === 0 ? [] : tileHashes(await fetchTile(fetch, ref), width).map((h) => new Uint8Array(h)));
    }
    const width = size % TILE_WIDTH;
    const bundle = width === 0 ? [] : decodeBundle(await fetchTile(fetch, { level: "entries", index: Math.floor(size / TILE_WIDTH), width }), width).map((e) => new Uint8Array(e));
    bundle.forEach((e, k) => {
      if (!hashEqual(leafHash(e), edge[0]![k]!)) throw new LogError(`entry ${size - width + k} does not match its leaf hash`);
    });
    const root = await rangeHash(edgeSource(edge, size), 0, size);
    if (!hashEqual(root, checkpoint.root)) throw new LogError("the tiles do not hash to the checkpoint's root");
    return { size, edge, bundle, checkpoint: note, fresh: false };
  } catch (error) {
    throw new LogError(`the log in ${dir} is corrupt at its checkpoint (size ${size}), refusing to write: ${error instanceof Error ? error.message : String(error)}`, undefined, { cause: error });
  }
}

