/**
 * A signing user's side of the log writer socket for tests/tlog/service.test.ts, run as that user:
 * `node dist/tests/support/tlog-log-client.js <socket> <count>` reserves and commits `count` entries (entry i as
 * tests/tlog/entries.ts makes it) and prints `<index>` for each durable commit; a failure is one line on stderr, exit 1.
 */
import { connectSigningLog } from "../../lib/tlog/client.js";
import { testEntry } from "../tlog/entries.js";

async function main(): Promise<void> {
  const [socket, count] = process.argv.slice(2);
  if (socket === undefined || count === undefined) throw new Error("usage: tlog-log-client <socket> <count>");
  const log = await connectSigningLog(socket);
  try {
    for (let k = 0; k < Number(count); k++) {
      const { index } = await log.reserve();
      const e = testEntry(index);
      await log.commit(index, { key: e.key, digest: e.digest, created: e.created, packet: e.packet });
      process.stdout.write(`${index}\n`);
    }
  } finally {
    log.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
