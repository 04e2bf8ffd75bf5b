#!/usr/bin/env node
// ForceCommand of shareholders. SSH_ORIGINAL_COMMAND selects the direction: empty or "download" prints the
// caller's share once; "upload" reads the caller's share on stdin. Anything else is refused (exit 2).
// --root is for tests and image builds (state below a directory). Exit codes: README.md "Exit codes".
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { downloadSecretShare, shareCommandOf } from "../lib/tools/download-secret-share.js";
import { configAt, toolArgs, writeStdout } from "../lib/tools/force-command.js";
import { runMain } from "../lib/tools/main.js";

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
  const args = toolArgs({ config: { type: "string" }, root: { type: "string" } }, `${program} [--config FILE] [--root DIR]`);
  const common = {
    caller: currentCaller(),
    config: configAt(args.config),
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
    write: writeStdout,
  });
});
