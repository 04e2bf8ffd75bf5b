/**
 * Hashing throughput on a 1 GiB random file (page-cached after the first pass): our file hasher with the native
 * addon, the pure-JS fallback (on 256 MiB, scaled), node:crypto with the same reader, and coreutils `sha512sum`
 * on the same file. Best of 3 runs each. MB = 10^6 bytes.
 *
 * The benchmark caches its input files (1.25 GiB together) in one named directory, `signstar-bench-cache` under
 * the temp dir, so later runs skip writing them; it prints where they are and how to delete them.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { mkdir, open, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { nativeSha512Status } from "../../lib/signing/native-sha512.js";

const GIB = 1024 ** 3;
/** Cache of benchmark input files, kept between runs on purpose (see the note printed by run()). */
export const CACHE_DIR = join(tmpdir(), "signstar-bench-cache");
const BIG = join(CACHE_DIR, "hash-1GiB.bin");
const SMALL = join(CACHE_DIR, "hash-256MiB.bin");

async function ensureFile(path: string, size: number): Promise<void> {
  const existing = await stat(path).catch(() => null);
  if (existing?.size === size) return;
  process.stdout.write(`creating ${path} (${size / 1024 ** 2} MiB of random data)... `);
  const fh = await open(path, "w", 0o600);
  const buf = new Uint8Array(16 * 1024 * 1024);
  for (let done = 0; done < size; done += buf.length) await fh.write(randomFillSync(buf), 0, Math.min(buf.length, size - done));
  await fh.close();
  console.log("done");
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [(performance.now() - t0) / 1000, v];
}

async function best<T>(runs: number, fn: () => Promise<T>): Promise<[number, T]> {
  let result: [number, T] | undefined;
  for (let i = 0; i < runs; i++) {
    const r = await timed(fn);
    if (result === undefined || r[0] < result[0]) result = r;
  }
  if (result === undefined) throw new Error("no runs");
  return result;
}

/** node:crypto with the same double-buffered 4 MiB reader as hashFile. */
async function nodeCrypto(path: string): Promise<string> {
  const h = createHash("sha512");
  const fh = await open(path, "r");
  try {
    const size = 4 * 1024 * 1024;
    const bufs = [new Uint8Array(size), new Uint8Array(size)];
    let which = 0;
    let done = 0;
    let pending = fh.read(bufs[0] ?? new Uint8Array(0), 0, size, 0);
    for (;;) {
      const { bytesRead, buffer } = await pending;
      if (bytesRead === 0) break;
      which ^= 1;
      pending = fh.read(bufs[which] ?? new Uint8Array(0), 0, size, done + bytesRead);
      h.update(buffer.subarray(0, bytesRead));
      done += bytesRead;
    }
    return h.digest("hex");
  } finally {
    await fh.close();
  }
}

function sha512sum(path: string): string {
  const r = spawnSync("sha512sum", [path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`sha512sum failed: ${r.stderr}`);
  return r.stdout.split(" ")[0] ?? "";
}

const mbps = (bytes: number, seconds: number): string => (bytes / 1e6 / seconds).toFixed(0).padStart(6);

export async function run(): Promise<void> {
  await mkdir(CACHE_DIR, { recursive: true, mode: 0o700 });
  await ensureFile(BIG, GIB);
  await ensureFile(SMALL, GIB / 4);
  console.log(`input files are cached in ${CACHE_DIR} (1.25 GiB, reused by later runs); delete them with: rm -r ${CACHE_DIR}`);
  const native = nativeSha512Status();
  console.log(`native addon: ${native.loaded ? `loaded from ${native.path}` : `NOT available (${native.error ?? "?"})`}`);
  await nodeCrypto(BIG); // warm the page cache
  const rows: [string, number, number, string][] = [];

  const [tOurs, ours] = await best(3, () => hashFile(BIG));
  const oursHex = Buffer.from(ours.digest()).toString("hex");
  rows.push([`ours (${native.loaded ? "native addon" : "pure-JS fallback"})`, GIB, tOurs, ""]);
  const [tJs, js] = await best(1, () => hashFile(SMALL, { implementation: "js" }));
  rows.push(["pure-JS fallback (@noble/hashes)", GIB / 4, tJs, `256 MiB file; 1 GiB ≈ ${(tJs * 4).toFixed(1)} s`]);
  const [tNode, nodeHex] = await best(3, () => nodeCrypto(BIG));
  rows.push(["node:crypto createHash (no state export)", GIB, tNode, ""]);
  const [tSum, sumHex] = await best(3, async () => sha512sum(BIG));
  rows.push(["sha512sum (coreutils)", GIB, tSum, ""]);

  if (oursHex !== sumHex || nodeHex !== sumHex) throw new Error("digests disagree between our hasher, node:crypto and sha512sum");
  const jsCheck = spawnSync("sha512sum", [SMALL], { encoding: "utf8" }).stdout.split(" ")[0];
  if (Buffer.from(js.digest()).toString("hex") !== jsCheck) throw new Error("pure-JS digest disagrees with sha512sum");

  console.log(`\nSHA-512 throughput, page-cached random file (best of 3; MB = 10^6 bytes)`);
  for (const [name, bytes, t, note] of rows) {
    console.log(`${name.padEnd(42)} ${mbps(bytes, t)} MB/s  ${t.toFixed(2).padStart(6)} s  ${note}`);
  }
  console.log(`\nratio ours / sha512sum: ${(tSum / tOurs).toFixed(2)}x  (goal >= 1.0x)`);
  console.log(`ratio ours / node:crypto: ${(tNode / tOurs).toFixed(2)}x`);
  console.log("digests agree (ours, node:crypto, sha512sum)");
}
