/**
 * The Merkle tree hash of RFC 9162 §2.1 (as used by C2SP tlog-tiles): SHA-256, leaf hash H(0x00 || entry), node
 * hash H(0x01 || left || right); inclusion and consistency proofs generated (§2.1.3.1, §2.1.4.1) from any source
 * of complete-subtree hashes, and verified (§2.1.3.2, §2.1.4.2) against a root hash alone.
 *
 * Indexes and sizes are JavaScript numbers (exact up to 2^53), so arithmetic is by division, never by the 32-bit
 * bit operators.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { LogVerifyError } from "./errors.js";

export const HASH_SIZE = 32;

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** RFC 9162 §2.1.1: the hash of one log entry. */
export function leafHash(entry: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, entry);
}

/** RFC 9162 §2.1.1: the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** The root hash of the empty tree, SHA-256 of the empty string. */
export const EMPTY_ROOT = sha256();

export function hashEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The largest power of two strictly smaller than n (n >= 2). */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;
}

/** The root hash of a complete tree over `hashes` (its length a power of two), e.g. one row of a tile. */
export function completeTreeHash(hashes: readonly Uint8Array[]): Uint8Array {
  let row = [...hashes];
  while (row.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(nodeHash(row[i]!, row[i + 1]!));
    row = next;
  }
  const root = row[0];
  if (root === undefined) throw new Error("completeTreeHash of no hashes");
  return root;
}

/**
 * Where hashes come from: the hash of the complete, aligned subtree of 2^level leaves starting at leaf
 * index * 2^level (level 0: a leaf hash).
 */
export interface SubtreeHashes {
  subtree(level: number, index: number): Promise<Uint8Array>;
}

/** RFC 9162 §2.1.1 MTH(D[lo:hi]) from complete subtrees (lo is always aligned to the split, as in the RFC). */
export async function rangeHash(src: SubtreeHashes, lo: number, hi: number): Promise<Uint8Array> {
  const n = hi - lo;
  if (n === 0) return EMPTY_ROOT;
  if (isPowerOfTwo(n) && lo % n === 0) return src.subtree(Math.log2(n), lo / n);
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(await rangeHash(src, lo, lo + k), await rangeHash(src, lo + k, hi));
}

/** RFC 9162 §2.1.3.1 PATH(m, D[0:size]): the inclusion proof of leaf `index`. */
export async function inclusionProof(src: SubtreeHashes, index: number, size: number): Promise<Uint8Array[]> {
  if (!(index >= 0 && index < size)) throw new RangeError(`leaf ${index} is not in a tree of size ${size}`);
  const path = async (m: number, lo: number, hi: number): Promise<Uint8Array[]> => {
    if (hi - lo <= 1) return [];
    const k = largestPowerOfTwoBelow(hi - lo);
    if (m < lo + k) return [...(await path(m, lo, lo + k)), await rangeHash(src, lo + k, hi)];
    return [...(await path(m, lo + k, hi)), await rangeHash(src, lo, lo + k)];
  };
  return path(index, 0, size);
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[0:n]): the consistency proof from size m to size n (empty when m is 0 or n). */
export async function consistencyProof(src: SubtreeHashes, m: number, n: number): Promise<Uint8Array[]> {
  if (!(m >= 0 && m <= n)) throw new RangeError(`no consistency proof from size ${m} to size ${n}`);
  if (m === 0 || m === n) return [];
  const sub = async (mm: number, lo: number, hi: number, b: boolean): Promise<Uint8Array[]> => {
    const size = hi - lo;
    if (mm === size) return b ? [] : [await rangeHash(src, lo, hi)];
    const k = largestPowerOfTwoBelow(size);
    if (mm <= k) return [...(await sub(mm, lo, lo + k, b)), await rangeHash(src, lo + k, hi)];
    return [...(await sub(mm - k, lo + k, hi, false)), await rangeHash(src, lo, lo + k)];
  };
  return sub(m, 0, n, true);
}

const half = (x: number): number => Math.floor(x / 2);
const odd = (x: number): boolean => x % 2 === 1;

/** RFC 9162 §2.1.3.2: throws LogVerifyError unless `proof` proves `leaf` at `index` in the tree (size, root). */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): void {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) {
    throw new LogVerifyError(`inclusion proof: entry ${index} is not in a tree of size ${size}`);
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new LogVerifyError(`inclusion proof of entry ${index} in tree size ${size} is too long`);
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0 || !hashEqual(r, root)) throw new LogVerifyError(`entry ${index} is not included in the tree of size ${size} (inclusion proof fails)`);
}

/**
 * RFC 9162 §2.1.4.2: throws LogVerifyError unless `proof` shows that the tree (size2, root2) extends (size1,
 * root1). Equal sizes need equal roots and an empty proof; the empty tree is extended by every tree.
 */
export function verifyConsistency(size1: number, root1: Uint8Array, size2: number, root2: Uint8Array, proof: readonly Uint8Array[]): void {
  const fail = (why: string): never => {
    throw new LogVerifyError(`the tree of size ${size2} is not consistent with the tree of size ${size1}: ${why}`);
  };
  if (!(Number.isSafeInteger(size1) && Number.isSafeInteger(size2) && size1 >= 0)) fail("bad sizes");
  if (size2 < size1) fail("the log shrank");
  if (size1 === size2) {
    if (proof.length !== 0) fail("non-empty proof for equal sizes");
    if (!hashEqual(root1, root2)) fail("same size, different root hash (a fork)");
    return;
  }
  if (size1 === 0) {
    if (proof.length !== 0) fail("non-empty proof from the empty tree");
    if (!hashEqual(root1, EMPTY_ROOT)) fail("the empty tree has a wrong root hash");
    return;
  }
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  if (path.length === 0) fail("empty proof");
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) fail("proof too long");
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) fail("proof too short");
  if (!hashEqual(fr, root1)) fail("the old root hash does not match (a fork or a rewritten entry)");
  if (!hashEqual(sr, root2)) fail("the new root hash does not match");
}
