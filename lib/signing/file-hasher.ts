/**
 * Streaming file hasher for the client: SHA-512 of a file, returned as a resumable state (not a digest).
 * Fast path: the native OpenSSL addon (native-sha512.ts); fallback: pure JS (@noble/hashes). Both produce
 * identical bytes. Reads 4 MiB chunks into two reused buffers, reading the next chunk while hashing this one.
 */
import { open } from "node:fs/promises";
import { describeErrno } from "../errors.js";
import { SigningInputError } from "./errors.js";
import { nativeSha512 } from "./native-sha512.js";
import { Sha512State } from "./sha512-state.js";

export type HasherImplementation = "auto" | "native" | "js";

export interface HashFileOptions {
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** "auto" (default): native when available, else JS. "native" fails when the addon is missing. */
  implementation?: HasherImplementation;
  /** Read size in bytes (default 4 MiB; 64 KiB–64 MiB). */
  chunkSize?: number;
}

export const DEFAULT_CHUNK = 4 * 1024 * 1024;

interface ChunkHasher {
  update(data: Uint8Array, length: number): void;
  finish(): Sha512State;
}

function jsHasher(): ChunkHasher {
  const state = Sha512State.create();
  return {
    update: (data, length) => void state.update(data.subarray(0, length)),
    finish: () => state,
  };
}

/** What an implementation choice resolves to on this machine ("auto" → "native" when the addon loads). */
export function resolveImplementation(impl: HasherImplementation = "auto"): "native" | "js" {
  if (impl === "js") return "js";
  if (nativeSha512() !== null) return "native";
  if (impl === "native") throw new SigningInputError("native SHA-512 addon is not available (run npm run build:native)");
  return "js";
}

/** The chunk hasher for an implementation choice, or an error when "native" is asked for but missing. */
function chunkHasher(impl: HasherImplementation): ChunkHasher {
  const addon = resolveImplementation(impl) === "native" ? nativeSha512() : null;
  if (addon === null) return jsHasher();
  const ctx = addon.create();
  return {
    update: (data, length) => addon.update(ctx, data, length),
    finish: () => Sha512State.fromBytes(addon.state(ctx)),
  };
}

/** Hashes a byte array with the chosen implementation (used by tests to compare both paths). */
export function hashBytes(data: Uint8Array, implementation: HasherImplementation = "auto"): Sha512State {
  const h = chunkHasher(implementation);
  h.update(data, data.length);
  return h.finish();
}

export async function hashFile(path: string, opts: HashFileOptions = {}): Promise<Sha512State> {
  const chunk = opts.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunk) || chunk < 65536 || chunk > 64 * 1024 * 1024) {
    throw new SigningInputError(`chunkSize ${chunk} is outside 64 KiB–64 MiB`);
  }
  opts.signal?.throwIfAborted();
  const hasher = chunkHasher(opts.implementation ?? "auto");
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new SigningInputError(`cannot open ${path}: ${errorCode(e)}`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SigningInputError(`${path} is not a regular file`);
    const total = st.size;
    const buffers: [Uint8Array, Uint8Array] = [new Uint8Array(chunk), new Uint8Array(chunk)];
    let which: 0 | 1 = 0;
    let done = 0;
    let pending = fh.read(buffers[0], 0, chunk, 0);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const current = buffers[which];
      which = which === 0 ? 1 : 0;
      pending = fh.read(buffers[which], 0, chunk, done + bytesRead);
      hasher.update(current, bytesRead);
      done += bytesRead;
      opts.onProgress?.(done, total);
      if (opts.signal?.aborted) {
        await pending.catch(() => undefined);
        opts.signal.throwIfAborted();
      }
    }
    if (done !== total) throw new SigningInputError(`${path} changed size while it was hashed (${total} → ${done} bytes)`);
    return hasher.finish();
  } catch (e) {
    if (e instanceof SigningInputError || (e instanceof Error && e.name === "AbortError")) throw e;
    // Stopped (Ctrl-C): the reason the caller gave (the shell's "interrupted", exit 130), not a read error.
    if (opts.signal?.aborted === true) throw opts.signal.reason ?? e;
    throw new SigningInputError(`cannot read ${path}: ${errorCode(e)}`, { cause: e });
  } finally {
    await fh.close();
  }
}

/** The reason in the words the other messages use; an error without an errno code keeps its own message. */
function errorCode(e: unknown): string {
  return e instanceof Error && !("code" in e) ? e.message : describeErrno(e);
}
