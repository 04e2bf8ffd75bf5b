#!/usr/bin/env node
// signstar-download-backup: see lib/cli/commands/signstar-download-backup.ts.
import { command } from "../lib/cli/commands/signstar-download-backup.js";
import { runCommand } from "../lib/cli/shell.js";
import { downloadBackup } from "../lib/tools/download-backup.js";

runCommand(command, (ctx) => downloadBackup(ctx.tool()));
