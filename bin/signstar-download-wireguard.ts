#!/usr/bin/env node
// ForceCommand of wire_guard_download users: prints the host's WireGuard public key.
// SSH_ORIGINAL_COMMAND is ignored. Exit codes: README.md "Exit codes".
import { parseArgs } from "node:util";
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { downloadWireGuard } from "../lib/tools/download-wireguard.js";
import { runMain } from "../lib/tools/main.js";
import { rootFromEnv } from "../lib/tools/operator/paths.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-download-wireguard";

runMain(program, async () => {
  const args = (() => {
    try {
      return parseArgs({ options: { config: { type: "string" } }, strict: true, allowPositionals: false }).values;
    } catch (e) {
      throw usageError(e, `${program} [--config FILE]`);
    }
  })();
  const root = rootFromEnv(process.env);
  const text = await downloadWireGuard({
    caller: currentCaller(),
    config: { ...(args.config !== undefined ? { path: args.config } : {}), env: process.env },
    log: syslogSink(program),
    ...(root !== undefined ? { root } : {}),
  });
  process.stdout.write(text);
});
