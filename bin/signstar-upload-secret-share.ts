#!/usr/bin/env node
// signstar-upload-secret-share: see lib/cli/commands/signstar-upload-secret-share.ts.
import { command } from "../lib/cli/commands/signstar-upload-secret-share.js";
import { runCommand } from "../lib/cli/shell.js";
import { uploadSecretShare } from "../lib/tools/upload-secret-share.js";

runCommand(command, (ctx) => uploadSecretShare({ ...ctx.tool(), root: ctx.options.root ?? "/", now: () => new Date(), stdin: process.stdin }));
