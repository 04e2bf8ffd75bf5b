/**
 * Reading and verifying a log from its files alone, wherever they come from (`LogFetch`: a directory here, an SSH
 * `log_reader` in the client): the checkpoint's note signature, an entry's inclusion in it, and the consistency of
 * two checkpoints. Proofs are computed from the fetched tiles and checked against the signed root hash (RFC 9162
 * §2.1.3.2, §2.1.4.2), so a tile or bundle that was tampered with, dropped or forked fails the check.
 */
import { isMissing } from "../os/errno.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { join } from "node:path";
import { openCheckpoint, type Checkpoint } from "./checkpoint.js";
import { LogVerifyError } from "./errors.js";
import { MAX_ENTRY_BYTES } from "./entry.js";
import { consistencyProof, hashEqual, inclusionProof, leafHash, verifyConsistency as verifyConsistencyProof, verifyInclusion } from "./merkle.js";
import type { NoteVerifier } from "./note.js";
import { decodeBundle, fetchTile, parseLogPath, tileFor, tileHashSource, TILE_WIDTH, type LogFetch } from "./tiles.js";

/** The largest file a log holds: an entry bundle of 256 entries of at most 1 KiB each. */
export const MAX_LOG_FILE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES);

/**
 * A LogFetch over a log directory: the path must parse (`parseLogPath`), the file is read without following a
 * final symbolic link, must be a regular file and at most MAX_LOG_FILE_BYTES. Missing files are undefined.
 */
export function directoryFetch(dir: string): LogFetch {
  return async (path) => {
    parseLogPath(path);
    try {
      return new Uint8Array((await readCheckedFile(join(dir, path), { what: "log file", maxBytes: MAX_LOG_FILE_BYTES })).data);
    } catch (error) {
      if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") return undefined;
      if (isMissing(error)) return undefined;
      throw error;
    }
  };
}

/** Fetches and verifies the checkpoint (note signature by `verifier`, origin = the key's name). */
export async function fetchCheckpoint(fetch: LogFetch, verifier: NoteVerifier): Promise<{ checkpoint: Checkpoint; note: Uint8Array }> {
  const note = await fetch("checkpoint");
  if (note === undefined) throw new LogVerifyError("the log has no checkpoint");
  return { checkpoint: openCheckpoint(note, verifier), note };
}

/** The bytes of entry `index` as the bundles of the tree of `size` hold them (unverified). */
export async function fetchEntry(fetch: LogFetch, size: number, index: number): Promise<Uint8Array> {
  if (!(Number.isSafeInteger(index) && index >= 0 && index < size)) throw new LogVerifyError(`entry ${index} is not in the tree of size ${size}`);
  const ref = tileFor("entries", Math.floor(index / TILE_WIDTH), size);
  const entries = decodeBundle(await fetchTile(fetch, ref), ref.width);
  return entries[index % TILE_WIDTH]!;
}

/**
 * Verifies that entry `index` is in the tree of `checkpoint` (already verified): fetches its bundle and the tiles
 * its inclusion proof needs, and checks the proof against the checkpoint's root. When `expected` is given, the
 * entry must be exactly those bytes. Returns the entry's bytes.
 */
export async function verifyEntryInclusion(fetch: LogFetch, checkpoint: Checkpoint, index: number, expected?: Uint8Array): Promise<Uint8Array> {
  const entry = await fetchEntry(fetch, checkpoint.size, index);
  if (expected !== undefined && !hashEqual(leafHash(entry), leafHash(expected))) {
    throw new LogVerifyError(`entry ${index} in the log is not the expected entry`);
  }
  const proof = await inclusionProof(tileHashSource(fetch, checkpoint.size), index, checkpoint.size);
  verifyInclusion(index, checkpoint.size, leafHash(entry), proof, checkpoint.root);
  return entry;
}

/**
 * Verifies that `newer` (the tree whose tiles `fetch` serves) extends `older`: same origin, not smaller, and a
 * consistency proof from its tiles that checks against both roots.
 */
export async function verifyConsistency(fetch: LogFetch, older: Checkpoint, newer: Checkpoint): Promise<void> {
  if (older.origin !== newer.origin) throw new LogVerifyError(`checkpoints of different logs: ${older.origin}, ${newer.origin}`);
  if (newer.size < older.size) throw new LogVerifyError(`the log shrank from ${older.size} to ${newer.size} entries`);
  const proof = older.size === newer.size ? [] : await consistencyProof(tileHashSource(fetch, newer.size), older.size, newer.size);
  verifyConsistencyProof(older.size, older.root, newer.size, newer.root, proof);
}
