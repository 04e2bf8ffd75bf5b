#!/usr/bin/env node
// A shareholder uploads its share: one line on stdin; the verdict ("2 of 3 shares present, wiped at …") on
// stdout, or one line on stderr naming the failed check. Also reachable as `ssh holder@host upload`.
// --root is for tests and image builds. Exit codes: README.md "Exit codes".
import { parseArgs } from "node:util";
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { runMain } from "../lib/tools/main.js";
import { uploadSecretShare } from "../lib/tools/upload-secret-share.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-upload-secret-share";

runMain(program, async () => {
  const args = (() => {
    try {
      return parseArgs({ options: { config: { type: "string" }, root: { type: "string" } }, strict: true, allowPositionals: false }).values;
    } catch (e) {
      throw usageError(e, `${program} [--config FILE] [--root DIR] < share.txt`);
    }
  })();
  const message = await uploadSecretShare({
    caller: currentCaller(),
    config: { ...(args.config !== undefined ? { path: args.config } : {}), env: process.env },
    root: args.root ?? "/",
    now: () => new Date(),
    log: syslogSink(program),
    stdin: process.stdin,
  });
  process.stdout.write(message);
});
