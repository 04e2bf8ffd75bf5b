#!/usr/bin/env node
// ForceCommand of update_upload users: reads a NetHSM update image on stdin (bounded), validates it offline and stores it
// atomically for signstar-configure; prints a one-line JSON receipt. SSH_ORIGINAL_COMMAND is ignored.
// Size bound: --max-bytes N, else SIGNSTAR_UPLOAD_UPDATE_MAX_BYTES (set by the administrator, e.g. sshd SetEnv),
// else the default. Exit codes: README.md "Exit codes".
import { parseArgs } from "node:util";
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { runMain } from "../lib/tools/main.js";
import { uploadUpdate } from "../lib/tools/upload-update.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-upload-update";
const synopsis = `${program} [--config FILE] [--max-bytes N] < file`;

function integer(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (!/^[0-9]{1,12}$/.test(text)) throw usageError(new Error(`${what} must be a positive integer`), synopsis);
  return Number(text);
}

runMain(program, async () => {
  const args = (() => {
    try {
      return parseArgs({ options: { config: { type: "string" }, "max-bytes": { type: "string" } }, strict: true, allowPositionals: false }).values;
    } catch (e) {
      throw usageError(e, synopsis);
    }
  })();
  const maxBytes = integer(args["max-bytes"], "--max-bytes") ?? integer(process.env.SIGNSTAR_UPLOAD_UPDATE_MAX_BYTES, "SIGNSTAR_UPLOAD_UPDATE_MAX_BYTES");
  const abort = new AbortController();
  for (const signal of ["SIGHUP", "SIGTERM", "SIGINT", "SIGPIPE"] as const) process.once(signal, () => abort.abort());
  const receipt = await uploadUpdate({
    stdin: process.stdin,
    caller: currentCaller(),
    config: { ...(args.config !== undefined ? { path: args.config } : {}), env: process.env },
    log: syslogSink(program),
    signal: abort.signal,
    ...(maxBytes !== undefined ? { maxBytes } : {}),
  });
  process.stdout.write(receipt);
});
