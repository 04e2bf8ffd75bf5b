#!/usr/bin/env node
// ForceCommand of key_certificates users: all signing keys' OpenPGP certificates as one armored keyring, or
// the JSON index when SSH_ORIGINAL_COMMAND is exactly "json" (`ssh user@host json`; "keyring" or nothing gives
// the keyring; anything else is refused). Run locally, --json selects the index. Exit codes: README.md.
import { parseArgs } from "node:util";
import { syslogSink } from "../lib/log/syslog.js";
import { currentCaller } from "../lib/tools/caller.js";
import { certificateMode, downloadKeyCertificates } from "../lib/tools/download-key-certificates.js";
import { runMain } from "../lib/tools/main.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-download-key-certificates";

runMain(program, async () => {
  const args = (() => {
    try {
      return parseArgs({ options: { config: { type: "string" }, json: { type: "boolean" } }, strict: true, allowPositionals: false }).values;
    } catch (e) {
      throw usageError(e, `${program} [--config FILE] [--json]`);
    }
  })();
  const mode = certificateMode(process.env.SSH_ORIGINAL_COMMAND, args.json === true);
  const text = await downloadKeyCertificates({
    caller: currentCaller(),
    config: { ...(args.config !== undefined ? { path: args.config } : {}), env: process.env },
    log: syslogSink(program),
    mode,
  });
  process.stdout.write(text);
});
