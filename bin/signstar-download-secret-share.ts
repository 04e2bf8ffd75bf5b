#!/usr/bin/env node
// ForceCommand of shareholders. SSH_ORIGINAL_COMMAND selects the direction: empty or "download" prints the
// caller's share once; "upload" reads the caller's share on stdin. Anything else is refused (exit 2).
// --root is for tests and image builds (state below a directory). Exit codes: README.md "Exit codes".
import { parseArgs } from "node:util";
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { downloadSecretShare, shareCommandOf } from "../lib/tools/download-secret-share.js";
import { runMain } from "../lib/tools/main.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-download-secret-share";
const command = (() => {
  try {
    return shareCommandOf(process.env["SSH_ORIGINAL_COMMAND"]);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
})();

// Errors of an upload are reported under the upload tool's name (what the shareholder asked for).
runMain(command === "upload" ? "signstar-upload-secret-share" : program, async () => {
  if (command instanceof Error) throw command;
  const args = (() => {
    try {
      return parseArgs({ options: { config: { type: "string" }, root: { type: "string" } }, strict: true, allowPositionals: false }).values;
    } catch (e) {
      throw usageError(e, `${program} [--config FILE] [--root DIR]`);
    }
  })();
  const common = {
    caller: currentCaller(),
    config: { ...(args.config !== undefined ? { path: args.config } : {}), env: process.env },
    root: args.root ?? "/",
    now: () => new Date(),
  };
  if (command === "upload") {
    const { uploadSecretShare } = await import("../lib/tools/upload-secret-share.js");
    process.stdout.write(await uploadSecretShare({ ...common, log: syslogSink("signstar-upload-secret-share"), stdin: process.stdin }));
    return;
  }
  await downloadSecretShare({
    ...common,
    log: syslogSink(program),
    write: (text) => new Promise<void>((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(e) : resolve()))),
  });
});
