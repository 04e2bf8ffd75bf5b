/**
 * A resumable SHA-512 whose internal state can be exported and imported in the `sha2-0.11-SHA512-state`
 * layout of Signstar's signing requests (`signstar-request-signature/src/lib.rs`, archlinux/signstar d6ad4e9; RustCrypto sha2 0.11.0 / block-buffer 0.12):
 *
 * | offset | len | meaning                                                          |
 * |--------|-----|------------------------------------------------------------------|
 * | 0      | 64  | H0..H7, each u64 little-endian                                   |
 * | 64     | 16  | number of complete 128-byte blocks compressed, u128 little-endian |
 * | 80     | 1   | pos = number of buffered bytes, < 128                            |
 * | 81     | 127 | buffered bytes [0, pos), then zeros                              |
 *
 * The legacy 210-byte layout of sha2 0.11.0-pre (every released Signstar, the spec's own example) is accepted
 * on input: `[H 64][blocks 16][0x40 = output size][pos 1][buffer 128]`. Output is always the 208-byte layout.
 *
 * Limit: the block count must stay below 2^46 (input below 8 PiB), because the hasher counts bytes in a
 * JavaScript number; larger counts are rejected instead of being finalized wrongly.
 */
import { _SHA512 } from "@noble/hashes/sha2.js";
import { SigningInputError } from "./errors.js";

export const STATE_BYTES = 208;
export const LEGACY_STATE_BYTES = 210;
const BLOCK = 128;
/** Block counts at or above this are rejected (see module comment). */
const MAX_BLOCKS = 2 ** 46;

/** @noble/hashes' SHA-512 with access to its internals (16 signed 32-bit halves, buffer, pos, byte length). */
class Engine extends _SHA512 {
  halves(): number[] {
    return this.get().map((w) => w >>> 0);
  }
  load(halves: Uint32Array, byteLength: number, buffered: Uint8Array): void {
    const h = (i: number): number => halves[i] ?? 0;
    this.set(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7), h(8), h(9), h(10), h(11), h(12), h(13), h(14), h(15));
    this.buffer.fill(0);
    this.buffer.set(buffered);
    this.pos = buffered.length;
    this.length = byteLength;
  }
  buffered(): Uint8Array {
    return this.buffer.slice(0, this.pos);
  }
  byteLength(): number {
    return this.length;
  }
  copy(): Engine {
    const e = new Engine();
    this._cloneInto(e);
    return e;
  }
}

export class Sha512State {
  readonly #engine: Engine;

  private constructor(engine: Engine) {
    this.#engine = engine;
  }

  /** A fresh SHA-512 (nothing hashed yet). */
  static create(): Sha512State {
    return new Sha512State(new Engine());
  }

  /**
   * Resumes a state from the 208-byte layout, or the legacy 210-byte layout (byte 80 must be 64).
   * Throws `SigningInputError` naming the offending offset.
   */
  static fromBytes(content: Uint8Array): Sha512State {
    let pos: number;
    let bufferStart: number;
    if (content.length === STATE_BYTES) {
      pos = content[80] ?? 0;
      bufferStart = 81;
    } else if (content.length === LEGACY_STATE_BYTES) {
      const outSize = content[80] ?? 0;
      if (outSize !== 64) {
        throw new SigningInputError(`hasher state: legacy 210-byte layout needs output size 64 at offset 80, got ${outSize}`);
      }
      pos = content[81] ?? 0;
      bufferStart = 82;
    } else {
      throw new SigningInputError(
        `hasher state: expected ${STATE_BYTES} bytes (or ${LEGACY_STATE_BYTES} in the legacy layout), got ${content.length}`,
      );
    }
    if (pos >= BLOCK) {
      throw new SigningInputError(`hasher state: buffered byte count ${pos} at offset ${bufferStart - 1} is not below 128`);
    }
    for (let i = bufferStart + pos; i < content.length; i++) {
      if (content[i] !== 0) {
        throw new SigningInputError(`hasher state: non-zero byte at offset ${i} after the ${pos} buffered bytes`);
      }
    }
    // u128 little-endian block count at 64..80; only the low 46 bits may be set.
    for (let i = 70; i < 80; i++) {
      if (content[i] !== 0) throw new SigningInputError("hasher state: block count at offset 64 is 2^46 or more (input of 8 PiB or more)");
    }
    let blocks = 0;
    for (let i = 5; i >= 0; i--) blocks = blocks * 256 + (content[64 + i] ?? 0);
    if (blocks >= MAX_BLOCKS) {
      throw new SigningInputError("hasher state: block count at offset 64 is 2^46 or more (input of 8 PiB or more)");
    }
    const halves = new Uint32Array(16);
    const view = new DataView(content.buffer, content.byteOffset, 64);
    for (let w = 0; w < 8; w++) {
      halves[2 * w] = view.getUint32(8 * w + 4, true); // high half
      halves[2 * w + 1] = view.getUint32(8 * w, true); // low half
    }
    const engine = new Engine();
    engine.load(halves, blocks * BLOCK + pos, content.slice(bufferStart, bufferStart + pos));
    return new Sha512State(engine);
  }

  /** Exports the state in the 208-byte layout. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(STATE_BYTES);
    const view = new DataView(out.buffer);
    const halves = this.#engine.halves();
    for (let w = 0; w < 8; w++) {
      view.setUint32(8 * w, halves[2 * w + 1] ?? 0, true);
      view.setUint32(8 * w + 4, halves[2 * w] ?? 0, true);
    }
    let blocks = Math.floor(this.#engine.byteLength() / BLOCK);
    for (let i = 64; i < 80 && blocks > 0; i++) {
      out[i] = blocks % 256;
      blocks = Math.floor(blocks / 256);
    }
    const buffered = this.#engine.buffered();
    out[80] = buffered.length;
    out.set(buffered, 81);
    return out;
  }

  /** Total number of bytes hashed so far. */
  get byteLength(): number {
    return this.#engine.byteLength();
  }

  update(data: Uint8Array): this {
    this.#engine.update(data);
    return this;
  }

  clone(): Sha512State {
    return new Sha512State(this.#engine.copy());
  }

  /** The SHA-512 digest of everything hashed so far; finalizes a clone, so this state stays usable. */
  digest(): Uint8Array {
    return this.#engine.copy().digest();
  }
}
