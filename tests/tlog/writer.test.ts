/**
 * The log writer against our reader and Go's sumdb/tlog: batched appends across tile boundaries (level 0, 1 and
 * 2 tiles), inclusion and consistency proofs, reservations (order, release, timeout, wrong user), reopening, and
 * each kind of tampering — a modified entry, a dropped entry, a forked checkpoint, a wrong key — detected by both.
 */
import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCheckpoint, type Checkpoint } from "../../lib/tlog/checkpoint.js";
import { decodeEntry, encodeEntry } from "../../lib/tlog/entry.js";
import { LogError, LogVerifyError } from "../../lib/tlog/errors.js";
import { ed25519NoteSigner, parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch, fetchCheckpoint, verifyConsistency, verifyEntryInclusion } from "../../lib/tlog/reader.js";
import { readLogStatus } from "../../lib/tlog/status.js";
import { LogWriter } from "../../lib/tlog/writer.js";
import { buildGoVerifier, goVerify } from "../support/go-tlog-verifier.js";
import { testEntry } from "./entries.js";

const ORIGIN = "signstar.test/tlog-writer";
const signer = ed25519NoteSigner(ORIGIN, Uint8Array.from({ length: 32 }, (_, i) => 7 * i));
const verifier = parseVerifierKey(signer.verifierKey);
let root: string;
let go: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-tlog-writer-"));
  go = await buildGoVerifier();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Appends entries from..to-1, at most 2000 outstanding at a time (the writer bounds reservations). */
async function appendAll(w: LogWriter, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 2000) {
    await Promise.all(
      Array.from({ length: Math.min(2000, to - start) }, (_, k) => {
        const r = w.reserve("tlogtest");
        expect(r.index).toBe(start + k);
        return w.commit(r.index, testEntry(r.index));
      }),
    );
  }
}

async function checkpointOf(dir: string): Promise<Checkpoint> {
  return (await fetchCheckpoint(directoryFetch(dir), verifier)).checkpoint;
}

async function goOk(dir: string, ...args: string[]): Promise<string> {
  const r = await goVerify(go, dir, signer.verifierKey, ...args);
  expect(r.stderr, `go-verifier ${args.join(" ")}`).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

async function goFails(dir: string, ...args: string[]): Promise<string> {
  const r = await goVerify(go, dir, signer.verifierKey, ...args);
  expect(r.code, `go-verifier ${args.join(" ")} must fail`).toBe(1);
  return r.stderr;
}

describe("LogWriter", () => {
  it("appends in batches across level-0 and level-1 tiles; our reader and Go's verify inclusion and consistency", async () => {
    const dir = join(root, "big");
    const w = await LogWriter.open({ dir, signer, batchWindowMs: 2, maxBatch: 4096 });
    const olds: string[] = [];
    for (const [from, to] of [[0, 1], [1, 255], [255, 256], [256, 700], [700, 65_536], [65_536, 65_800]] as const) {
      await appendAll(w, from, to);
      expect(w.size).toBe(to);
      const old = join(root, `big-${to}.checkpoint`);
      await writeFile(old, w.checkpoint);
      olds.push(old);
    }
    expect(w.stats().batches).toBeLessThan(w.stats().appendedEntries);
    await w.close();
    const fetch = directoryFetch(dir);
    const now = await checkpointOf(dir);
    expect(now.size).toBe(65_800);
    for (const i of [0, 1, 254, 255, 256, 699, 65_535, 65_536, 65_799]) {
      expect(decodeEntry(await verifyEntryInclusion(fetch, now, i, encodeEntry(testEntry(i))))).toEqual(testEntry(i));
      expect(await goOk(dir, "inclusion", String(i))).toMatch(/^ok entry/);
    }
    for (const old of olds) {
      await verifyConsistency(fetch, openCheckpoint(await readFile(old), verifier), now);
      expect(await goOk(dir, "consistency", old)).toMatch(/^ok tree size 65800 extends/);
    }
    // Full tiles exist at levels 0, 1 and the level-2 partial; the partial tiles of full tiles are gone.
    expect((await stat(join(dir, "tile/1/000"))).size).toBe(256 * 32);
    expect((await stat(join(dir, "tile/2/000.p/1"))).size).toBe(32);
    expect((await readdir(join(dir, "tile/0"))).filter((n) => n.endsWith(".p"))).toEqual(["257.p"]);
    expect(await readdir(join(dir, "tile/0/257.p"))).toEqual(["8"]);
    expect((await readdir(join(dir, "tile/entries"))).filter((n) => n.endsWith(".p"))).toEqual(["257.p"]);
  }, 300_000);

  it("resolves commits in index order, voids released and timed-out reservations, refuses foreign and stale commits", async () => {
    const dir = join(root, "order");
    const w = await LogWriter.open({ dir, signer, batchWindowMs: 1, reservationTimeoutMs: 300 });
    const a = w.reserve("tlogtest");
    const b = w.reserve("tlogtest");
    const c = w.reserve("tlogtest");
    let bDone = false;
    const bCommit = w.commit(b.index, testEntry(b.index)).then(() => (bDone = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(bDone).toBe(false);
    expect(w.size).toBe(0);
    w.release(a.index);
    await bCommit;
    expect(w.size).toBe(2);
    expect(() => w.commit(a.index, testEntry(a.index))).toThrow(LogError);
    expect(() => w.commit(c.index, testEntry(c.index, "someoneelse"))).toThrow(/reserved by tlogtest/);
    await new Promise((r) => setTimeout(r, 500));
    expect(() => w.commit(c.index, testEntry(c.index))).toThrow(/not reserved/);
    expect(w.size).toBe(3);
    await w.close();
    const now = await checkpointOf(dir);
    const fetch = directoryFetch(dir);
    expect(decodeEntry(await verifyEntryInclusion(fetch, now, 0))).toMatchObject({ kind: "void", user: "tlogtest" });
    expect(decodeEntry(await verifyEntryInclusion(fetch, now, 2))).toMatchObject({ kind: "void" });
    expect(decodeEntry(await verifyEntryInclusion(fetch, now, 1))).toEqual(testEntry(1));
  });

  it("reopens at its checkpoint, continues the same tree, and refuses a second writer and a corrupt log", async () => {
    const dir = join(root, "reopen");
    const w1 = await LogWriter.open({ dir, signer, batchWindowMs: 0, maxBatch: 1 });
    await appendAll(w1, 0, 10);
    await expect(LogWriter.open({ dir, signer })).rejects.toThrow(/open by process/);
    await w1.close();
    const first = await checkpointOf(dir);
    const w2 = await LogWriter.open({ dir, signer });
    expect(w2.size).toBe(10);
    await appendAll(w2, 10, 20);
    await w2.close();
    await verifyConsistency(directoryFetch(dir), first, await checkpointOf(dir));
    const other = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(1));
    await expect(LogWriter.open({ dir, signer: other })).rejects.toThrow(/does not verify with the log key/);
    await writeFile(join(dir, "tile/0/000.p/20"), new Uint8Array(20 * 32));
    await expect(LogWriter.open({ dir, signer })).rejects.toThrow(LogError);
  });
});

describe("the log's status for the metrics export", () => {
  it("reads the checkpoint's size and time and the writer's figures", async () => {
    const dir = join(root, "status");
    const w = await LogWriter.open({ dir, signer });
    await appendAll(w, 0, 5);
    w.reserve("tlogtest");
    await w.close();
    const status = await readLogStatus(dir);
    expect(status.size).toBe(6);
    expect(status.checkpointMtimeMs).toBeGreaterThan(Date.now() - 600_000);
    expect(status.writer.appendedEntries).toBe(6);
    expect(status.writer.batches).toBeGreaterThanOrEqual(1);
    expect(status.writer.appendLatencySumMs).toBeGreaterThanOrEqual(0);
    await writeFile(join(dir, "checkpoint"), "garbage");
    await expect(readLogStatus(dir)).rejects.toThrow(/malformed/);
  });
});

describe("tampering is detected by our verifier and by Go's", () => {
  let dir: string;
  let base: Checkpoint;
  beforeAll(async () => {
    dir = join(root, "tamper");
    const w = await LogWriter.open({ dir, signer });
    await appendAll(w, 0, 300);
    await writeFile(join(root, "tamper-300.checkpoint"), w.checkpoint);
    await appendAll(w, 300, 310);
    await w.close();
    base = await checkpointOf(dir);
  });

  async function copyLog(name: string): Promise<string> {
    const copy = join(root, name);
    await cp(dir, copy, { recursive: true });
    return copy;
  }

  it("a modified entry", async () => {
    const copy = await copyLog("modified");
    const path = join(copy, "tile/entries/001.p/54");
    const bundle = await readFile(path);
    const at = bundle.indexOf("created 1700000260");
    bundle[at + 17] = "9".charCodeAt(0);
    await writeFile(path, bundle);
    await expect(verifyEntryInclusion(directoryFetch(copy), base, 260)).rejects.toThrow(LogVerifyError);
    expect(await goFails(copy, "inclusion", "260")).toMatch(/go-verifier/);
    await goOk(copy, "inclusion", "259");
  });

  it("a dropped entry", async () => {
    const copy = await copyLog("dropped");
    const path = join(copy, "tile/entries/001.p/54");
    const bundle = await readFile(path);
    const first = 2 + ((bundle[0]! << 8) | bundle[1]!);
    await writeFile(path, bundle.subarray(first));
    await expect(verifyEntryInclusion(directoryFetch(copy), base, 300)).rejects.toThrow(LogVerifyError);
    await goFails(copy, "inclusion", "300");
    await truncate(join(copy, "tile/0/001.p/54"), 53 * 32);
    await expect(verifyEntryInclusion(directoryFetch(copy), base, 10)).rejects.toThrow(LogVerifyError);
    await goFails(copy, "inclusion", "10");
  });

  it("a forked checkpoint", async () => {
    const fork = join(root, "fork");
    await cp(dir, fork, { recursive: true });
    await rm(join(fork, ".lock"), { force: true });
    // The fork is the same log rewound to 300 entries and continued differently, signed by the same key.
    const rewound = join(root, "rewound");
    const w = await LogWriter.open({ dir: rewound, signer });
    await appendAll(w, 0, 299);
    const r = w.reserve("tlogtest");
    await w.commit(r.index, testEntry(9999));
    await appendAll(w, 300, 320);
    await w.close();
    const forked = await checkpointOf(rewound);
    await expect(verifyConsistency(directoryFetch(rewound), openCheckpoint(await readFile(join(root, "tamper-300.checkpoint")), verifier), forked)).rejects.toThrow(LogVerifyError);
    expect(await goFails(rewound, "consistency", join(root, "tamper-300.checkpoint"))).toMatch(/go-verifier/);
    await goOk(dir, "consistency", join(root, "tamper-300.checkpoint"));
  });

  it("a wrong key", async () => {
    const other = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(3));
    await expect(fetchCheckpoint(directoryFetch(dir), parseVerifierKey(other.verifierKey))).rejects.toThrow(LogVerifyError);
    const r = await goVerify(go, dir, other.verifierKey, "checkpoint");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown key|verification|signature/i);
    await goOk(dir, "checkpoint");
  });
});
