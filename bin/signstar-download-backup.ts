#!/usr/bin/env node
// ForceCommand of backup users: streams a fresh NetHSM backup (checked before the first byte) to stdout.
// SSH_ORIGINAL_COMMAND is ignored. Exit codes: README.md "Exit codes".
import { parseArgs } from "node:util";
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { downloadBackup } from "../lib/tools/download-backup.js";
import { runMain } from "../lib/tools/main.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-download-backup";

runMain(program, async () => {
  const args = (() => {
    try {
      return parseArgs({ options: { config: { type: "string" } }, strict: true, allowPositionals: false }).values;
    } catch (e) {
      throw usageError(e, `${program} [--config FILE] > backup.bin`);
    }
  })();
  const backup = await downloadBackup({
    caller: currentCaller(),
    config: { ...(args.config !== undefined ? { path: args.config } : {}), env: process.env },
    log: syslogSink(program),
  });
  await new Promise<void>((resolve, reject) => process.stdout.write(backup, (e) => (e ? reject(e) : resolve())));
});
