#!/usr/bin/env node
// signstar-upload-backup: see lib/cli/commands/signstar-upload-backup.ts.
import { command } from "../lib/cli/commands/signstar-upload-backup.js";
import { runCommand } from "../lib/cli/shell.js";
import { uploadBackup } from "../lib/tools/upload-backup.js";

runCommand(command, (ctx) => uploadBackup({ ...ctx.tool(), stdin: process.stdin, signal: ctx.signal, maxBytes: ctx.options["max-bytes"] }));
