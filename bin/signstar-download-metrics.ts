#!/usr/bin/env node
// ForceCommand of metrics users (and the collector signstar-admin write-hermetic-metrics runs as each hermetic
// metrics user): prints NetHSM, PKCS#11 and host metrics in the Prometheus text format.
// SSH_ORIGINAL_COMMAND is ignored. Exit codes: README.md "Exit codes".
import { parseArgs } from "node:util";
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { downloadMetrics } from "../lib/tools/download-metrics.js";
import { runMain } from "../lib/tools/main.js";
import { rootFromEnv } from "../lib/tools/operator/paths.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-download-metrics";

runMain(program, async () => {
  const args = (() => {
    try {
      return parseArgs({ options: { config: { type: "string" } }, strict: true, allowPositionals: false }).values;
    } catch (e) {
      throw usageError(e, `${program} [--config FILE]`);
    }
  })();
  const root = rootFromEnv(process.env);
  const text = await downloadMetrics({
    caller: currentCaller(),
    config: { ...(args.config !== undefined ? { path: args.config } : {}), env: process.env },
    log: syslogSink(program),
    now: () => new Date(),
    ...(root !== undefined ? { root } : {}),
  });
  process.stdout.write(text);
});
