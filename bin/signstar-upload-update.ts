#!/usr/bin/env node
// signstar-upload-update: see lib/cli/commands/signstar-upload-update.ts.
import { command } from "../lib/cli/commands/signstar-upload-update.js";
import { runCommand } from "../lib/cli/shell.js";
import { uploadUpdate } from "../lib/tools/upload-update.js";

runCommand(command, (ctx) => uploadUpdate({ ...ctx.tool(), stdin: process.stdin, signal: ctx.signal, maxBytes: ctx.options["max-bytes"] }));
