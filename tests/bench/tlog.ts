/**
 * The signing log's append throughput on this machine's disk (`npm run bench tlog`): entries per second with
 * batching (group commit: all entries ready share the fsyncs and one checkpoint) and without (one batch, so one
 * round of fsyncs and one checkpoint, per entry), each with 64 appends in flight, and the mean time from commit to
 * durable. The log directory is under the temp dir and removed afterwards.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ed25519NoteSigner } from "../../lib/tlog/note.js";
import { LogWriter } from "../../lib/tlog/writer.js";
import { testEntry } from "../tlog/entries.js";

const IN_FLIGHT = 64;

async function measure(dir: string, entries: number, batched: boolean): Promise<{ perSecond: number; latencyMs: number; batches: number }> {
  const signer = ed25519NoteSigner("signstar.bench/tlog", new Uint8Array(32).fill(1));
  const w = await LogWriter.open({ dir, signer, ...(batched ? { batchWindowMs: 1, maxBatch: 1024 } : { batchWindowMs: 0, maxBatch: 1 }) });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < entries) {
        next++;
        const { index } = w.reserve("bench");
        await w.commit(index, testEntry(index, "bench"));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const s = w.stats();
  await w.close();
  return { perSecond: entries / seconds, latencyMs: s.appendLatencySumMs / s.appendedEntries, batches: s.batches };
}

export async function run(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "signstar-bench-tlog-"));
  try {
    console.log(`log directory under ${work}, ${IN_FLIGHT} appends in flight`);
    for (const [name, entries, batched] of [["batched", 5000, true], ["unbatched", 400, false]] as const) {
      const r = await measure(join(work, name), entries, batched);
      console.log(
        `${name.padEnd(10)} ${entries} entries: ${r.perSecond.toFixed(0).padStart(6)} entries/s, ${r.batches} checkpoints, mean commit-to-durable ${r.latencyMs.toFixed(1)} ms`,
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
