import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SigningInputError } from "../../lib/signing/errors.js";
import { Sha512State } from "../../lib/signing/sha512-state.js";
import { hex, unhex, vectorJson } from "./support.js";
import { mulberry32 } from "../support/random.js";

interface Vector {
  name: string;
  input: { utf8?: string; repeat?: string; count?: number };
  state: string;
  legacy?: boolean;
  digest: string;
}
const { vectors } = vectorJson("sha512-state.json") as { vectors: Vector[] };

function inputOf(v: Vector): Uint8Array {
  if (v.input.utf8 !== undefined) return new TextEncoder().encode(v.input.utf8);
  return new TextEncoder().encode((v.input.repeat ?? "").repeat(v.input.count ?? 0));
}

function nodeSha512(data: Uint8Array): string {
  return createHash("sha512").update(data).digest("hex");
}

describe("Sha512State vectors", () => {
  it("has the five vectors of the brief", () => {
    expect(vectors.length).toBe(5);
    expect(vectors.slice(0, 3).map((v) => v.digest.slice(0, 6))).toEqual(["14fd45", "55b956", "cf83e1"]);
    expect(vectors.slice(3).map((v) => v.input.count)).toEqual([128, 200]);
  });

  for (const v of vectors) {
    it(`${v.name}: resumes and finalizes to the expected digest`, () => {
      const state = Sha512State.fromBytes(unhex(v.state));
      expect(hex(state.digest())).toBe(v.digest);
      expect(v.digest).toBe(nodeSha512(inputOf(v)));
      // digest() does not consume the state
      expect(hex(state.digest())).toBe(v.digest);
    });

    it(`${v.name}: hashing the input exports the expected state`, () => {
      const exported = Sha512State.create().update(inputOf(v)).toBytes();
      expect(exported.length).toBe(208);
      if (v.legacy === true) {
        // the legacy layout carries the same H, block count and buffer, shifted by the output-size byte
        const legacy = unhex(v.state);
        expect(hex(exported.subarray(0, 80))).toBe(hex(legacy.subarray(0, 80)));
        expect(exported[80]).toBe(legacy[81]);
        expect(hex(exported.subarray(81))).toBe(hex(legacy.subarray(82, 209)));
        expect(legacy[209]).toBe(0);
      } else {
        expect(hex(exported)).toBe(v.state);
      }
    });
  }

  it("re-exports a legacy state in the 208-byte layout", () => {
    const legacy = vectors.find((v) => v.legacy === true);
    const state = Sha512State.fromBytes(unhex(legacy?.state ?? ""));
    const again = Sha512State.fromBytes(state.toBytes());
    expect(again.toBytes().length).toBe(208);
    expect(hex(again.digest())).toBe(legacy?.digest);
  });
});

const SEED = 0x5eed512;

describe("Sha512State against node:crypto", () => {
  it(`matches for random sizes split at random points, and round-trips through bytes at every split (seed ${SEED})`, () => {
    const random = mulberry32(SEED);
    const sizes = [0, 1, 111, 112, 113, 127, 128, 129, 255, 256, 257, 1000, 4096, 65537];
    for (let i = 0; i < 30; i++) sizes.push(Math.floor(random() * 20000));
    for (const size of sizes) {
      const data = randomBytes(size);
      const split = Math.floor(random() * (size + 1));
      const first = Sha512State.create().update(data.subarray(0, split));
      const resumed = Sha512State.fromBytes(first.toBytes()).update(data.subarray(split));
      expect(hex(resumed.digest()), `seed ${SEED}, size ${size} split ${split}`).toBe(nodeSha512(data));
      expect(resumed.byteLength).toBe(size);
      const bytes = resumed.toBytes();
      expect(bytes[80]).toBe(size % 128);
      expect(Buffer.from(bytes.subarray(64, 80)).readBigUInt64LE(0)).toBe(BigInt(Math.floor(size / 128)));
    }
  });

  it("clone() is independent of the original", () => {
    const a = Sha512State.create().update(new TextEncoder().encode("abc"));
    const b = a.clone().update(new TextEncoder().encode("def"));
    expect(hex(a.digest())).toBe(nodeSha512(new TextEncoder().encode("abc")));
    expect(hex(b.digest())).toBe(nodeSha512(new TextEncoder().encode("abcdef")));
  });
});

describe("Sha512State.fromBytes rejects malformed states", () => {
  const good = unhex(vectors[0]?.state ?? "");
  const legacy = unhex(vectors[1]?.state ?? "");
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["207 bytes", () => good.slice(0, 207), /expected 208 bytes \(or 210 in the legacy layout\), got 207/],
    ["209 bytes", () => Uint8Array.from([...good, 0]), /got 209/],
    ["empty", () => new Uint8Array(0), /got 0/],
    ["pos 128", () => { const b = good.slice(); b[80] = 128; return b; }, /buffered byte count 128 at offset 80 is not below 128/],
    ["pos 255", () => { const b = good.slice(); b[80] = 255; return b; }, /buffered byte count 255/],
    ["non-zero tail", () => { const b = good.slice(); b[207] = 1; return b; }, /non-zero byte at offset 207 after the 19 buffered bytes/],
    ["non-zero right after buffer", () => { const b = good.slice(); b[100] = 9; return b; }, /non-zero byte at offset 100/],
    ["legacy output size 63", () => { const b = legacy.slice(); b[80] = 63; return b; }, /legacy 210-byte layout needs output size 64 at offset 80, got 63/],
    ["legacy pos 128", () => { const b = legacy.slice(); b[81] = 128; return b; }, /buffered byte count 128 at offset 81/],
    ["legacy non-zero tail", () => { const b = legacy.slice(); b[209] = 7; return b; }, /non-zero byte at offset 209 after the 20 buffered bytes/],
    ["block count 2^46", () => { const b = good.slice(); b[69] = 0x40; return b; }, /block count at offset 64 is 2\^46 or more/],
    ["block count high bytes", () => { const b = good.slice(); b[79] = 1; return b; }, /block count at offset 64/],
  ];
  for (const [name, make, message] of cases) {
    it(name, () => {
      const run = (): Sha512State => Sha512State.fromBytes(make());
      expect(run).toThrow(SigningInputError);
      expect(run).toThrow(message);
    });
  }

  it("accepts the largest supported block count and finalizes with its bit length", () => {
    const b = new Uint8Array(208);
    b.set(good.subarray(0, 64));
    b[64] = 0xff; b[65] = 0xff; b[66] = 0xff; b[67] = 0xff; b[68] = 0xff; b[69] = 0x3f;
    const s = Sha512State.fromBytes(b);
    expect(s.byteLength).toBe((2 ** 46 - 1) * 128);
    expect(hex(s.toBytes())).toBe(hex(b));
  });
});
