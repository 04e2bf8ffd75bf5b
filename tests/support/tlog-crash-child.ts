/**
 * The child of tests/tlog/crash.test.ts: `node dist/tests/support/tlog-crash-child.js <log dir> <key file>`
 * opens the log and appends test entries as fast as it can, 32 in flight, printing `<index>\n` for every commit
 * that resolved (so, by the writer's contract, is durable), until it is killed.
 */
import { loadLogKeyFile } from "../../lib/tlog/key-file.js";
import { LogWriter } from "../../lib/tlog/writer.js";
import { testEntry } from "../tlog/entries.js";

async function main(): Promise<void> {
  const [dir, keyFile] = process.argv.slice(2);
  if (dir === undefined || keyFile === undefined) throw new Error("usage: tlog-crash-child <log dir> <key file>");
  const w = await LogWriter.open({ dir, signer: await loadLogKeyFile(keyFile), batchWindowMs: 1, maxBatch: 64 });
  process.stdout.write(`open ${w.size}\n`);
  const worker = async (): Promise<never> => {
    for (;;) {
      const { index } = w.reserve("tlogtest");
      await w.commit(index, testEntry(index));
      process.stdout.write(`${index}\n`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
