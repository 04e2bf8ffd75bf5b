#!/usr/bin/env node
// ForceCommand of metrics users (and the collector signstar-admin write-hermetic-metrics runs as each hermetic
// metrics user): prints NetHSM, PKCS#11 and host metrics in the Prometheus text format.
// SSH_ORIGINAL_COMMAND is ignored. Exit codes: README.md "Exit codes".
import { downloadMetrics } from "../lib/tools/download-metrics.js";
import { runTool, toolContext } from "../lib/tools/force-command.js";
import { rootFromEnv } from "../lib/layout/host-layout.js";

const program = "signstar-download-metrics";

runTool(program, { options: { config: { type: "string" } }, synopsis: `${program} [--config FILE]` }, async (args) => {
  const root = rootFromEnv(process.env);
  return downloadMetrics({ ...toolContext(program, args.config), now: () => new Date(), ...(root !== undefined ? { root } : {}) });
});
