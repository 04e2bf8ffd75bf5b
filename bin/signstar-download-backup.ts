#!/usr/bin/env node
// ForceCommand of backup users: streams a fresh NetHSM backup (checked before the first byte) to stdout.
// SSH_ORIGINAL_COMMAND is ignored. Exit codes: README.md "Exit codes".
import { downloadBackup } from "../lib/tools/download-backup.js";
import { runTool, toolContext, writeStdout } from "../lib/tools/force-command.js";

const program = "signstar-download-backup";

runTool(program, { options: { config: { type: "string" } }, synopsis: `${program} [--config FILE] > backup.bin` }, async (args) => {
  await writeStdout(await downloadBackup(toolContext(program, args.config)));
});
