/**
 * RFC 9162 §2.1 hashing and proofs: every proof for every pair of sizes up to 70 (crossing powers of two) verifies
 * against the root of the RFC's recursive definition, and any changed hash, index or size makes it fail.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LogVerifyError } from "../../lib/tlog/errors.js";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  nodeHash,
  rangeHash,
  verifyConsistency,
  verifyInclusion,
  type SubtreeHashes,
} from "../../lib/tlog/merkle.js";

const leaves = Array.from({ length: 70 }, (_, i) => new TextEncoder().encode(`entry ${i}`));

/** MTH(D[lo:hi]) exactly as RFC 9162 §2.1.1 defines it, written independently of the module. */
function mth(lo: number, hi: number): Uint8Array {
  const key = `${lo}:${hi}`;
  const hit = memo.get(key);
  if (hit !== undefined) return hit;
  const h = mthUncached(lo, hi);
  memo.set(key, h);
  return h;
}

function mthUncached(lo: number, hi: number): Uint8Array {
  if (hi === lo) return new Uint8Array(createHash("sha256").digest());
  if (hi - lo === 1) return new Uint8Array(createHash("sha256").update(Uint8Array.of(0)).update(leaves[lo]!).digest());
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return new Uint8Array(createHash("sha256").update(Uint8Array.of(1)).update(mth(lo, lo + k)).update(mth(lo + k, hi)).digest());
}

const memo = new Map<string, Uint8Array>();
const source: SubtreeHashes = { subtree: async (level, index) => mth(index * 2 ** level, (index + 1) * 2 ** level) };

function flip(h: Uint8Array): Uint8Array {
  const c = Uint8Array.from(h);
  c[0]! ^= 1;
  return c;
}

describe("RFC 9162 Merkle tree", () => {
  it("hashes leaves with 0x00 and nodes with 0x01, the empty tree as SHA-256 of nothing", async () => {
    expect(Buffer.from(EMPTY_ROOT).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(leafHash(leaves[0]!)).toEqual(mth(0, 1));
    expect(nodeHash(leafHash(leaves[0]!), leafHash(leaves[1]!))).toEqual(mth(0, 2));
    for (const n of [1, 3, 7, 8, 9, 64, 70]) expect(await rangeHash(source, 0, n)).toEqual(mth(0, n));
  });

  it("proves and verifies the inclusion of every leaf in every tree up to 70; tampering fails", async () => {
    for (let size = 1; size <= 70; size++) {
      const root = mth(0, size);
      for (let i = 0; i < size; i++) {
        const proof = await inclusionProof(source, i, size);
        verifyInclusion(i, size, leafHash(leaves[i]!), proof, root);
        if (size > 1) {
          expect(() => verifyInclusion(i, size, leafHash(leaves[(i + 1) % size]!), proof, root)).toThrow(LogVerifyError);
          expect(() => verifyInclusion(i, size, leafHash(leaves[i]!), [flip(proof[0]!), ...proof.slice(1)], root)).toThrow(LogVerifyError);
          expect(() => verifyInclusion(i, size, leafHash(leaves[i]!), proof.slice(1), root)).toThrow(LogVerifyError);
        }
        expect(() => verifyInclusion(i, size, leafHash(leaves[i]!), proof, flip(root))).toThrow(LogVerifyError);
      }
      expect(() => verifyInclusion(size, size, leafHash(leaves[0]!), [], root)).toThrow(LogVerifyError);
    }
  });

  it("proves and verifies consistency between every pair of sizes up to 70; a fork fails", async () => {
    for (let n = 1; n <= 70; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = await consistencyProof(source, m, n);
        verifyConsistency(m, mth(0, m), n, mth(0, n), proof);
        if (m > 0 && m < n) {
          expect(() => verifyConsistency(m, flip(mth(0, m)), n, mth(0, n), proof)).toThrow(LogVerifyError);
          expect(() => verifyConsistency(m, mth(0, m), n, flip(mth(0, n)), proof)).toThrow(LogVerifyError);
          if (proof.length > 0) expect(() => verifyConsistency(m, mth(0, m), n, mth(0, n), [flip(proof[0]!), ...proof.slice(1)])).toThrow(LogVerifyError);
        }
      }
    }
    expect(() => verifyConsistency(5, mth(0, 5), 4, mth(0, 4), [])).toThrow(/shrank/);
    expect(() => verifyConsistency(4, mth(0, 4), 4, flip(mth(0, 4)), [])).toThrow(/fork/);
  });
});
