#!/usr/bin/env node
// ForceCommand of signing users (also installed as signstar-sign). Reads a signing request on stdin and
// writes the signing response on stdout. SSH_ORIGINAL_COMMAND is ignored on purpose: the user runs this and
// nothing else. Exit codes: README.md "Exit codes".
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { downloadSignature } from "../lib/tools/download-signature.js";
import { configAt, toolArgs } from "../lib/tools/force-command.js";
import { hostLayout, rootFromEnv } from "../lib/layout/host-layout.js";
import { runMain } from "../lib/tools/main.js";

const program = "signstar-download-signature";

runMain(program, async () => {
  // The audit logger starts first, so that its start-up overlaps reading, configuration and the HSM.
  const log = syslogSink(program, process.env, undefined, { early: true });
  const args = toolArgs({ config: { type: "string" } }, `${program} [--config FILE] < request.json`);
  const response = await downloadSignature({
    stdin: process.stdin,
    caller: currentCaller(),
    config: configAt(args.config),
    now: () => new Date(),
    log,
    countersDir: hostLayout(rootFromEnv(process.env)).signatureCountersDir,
  });
  process.stdout.write(response);
});
