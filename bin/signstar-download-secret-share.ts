#!/usr/bin/env node
// ForceCommand of shareholders. SSH_ORIGINAL_COMMAND selects the direction: empty or "download" prints the
// caller's share (and, on stderr, the confirm command); "confirm <code>" removes it from the host; "upload" reads
// the caller's share on stdin. Anything else is refused (exit 2).
// --root is for tests and image builds (state below a directory). Exit codes: README.md "Exit codes".
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { confirmCodeOf, confirmSecretShare, downloadSecretShare, shareCommandOf } from "../lib/tools/download-secret-share.js";
import { configAt, toolArgs, writeStdout } from "../lib/tools/force-command.js";
import { runMain } from "../lib/tools/main.js";
import { ExitCode } from "../lib/errors.js";

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
  if (command === "confirm") {
    const code = confirmCodeOf(process.env["SSH_ORIGINAL_COMMAND"]);
    process.stdout.write(await confirmSecretShare({ ...common, log: syslogSink(program), code }));
    return;
  }
  // A hung-up session (SIGHUP) or a stop (SIGTERM) puts a fresh claim back before exiting.
  const hangup = new AbortController();
  for (const sig of ["SIGHUP", "SIGTERM"] as const) {
    process.once(sig, () => {
      hangup.abort();
      setTimeout(() => process.exit(ExitCode.Remote), 200).unref();
    });
  }
  await downloadSecretShare({
    ...common,
    log: syslogSink(program),
    write: writeStdout,
    notify: (text) => new Promise<void>((resolve) => process.stderr.write(text, () => resolve())),
    signal: hangup.signal,
  });
});
