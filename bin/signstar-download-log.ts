#!/usr/bin/env node
// signstar-download-log: see lib/cli/commands/signstar-download-log.ts.
import { command } from "../lib/cli/commands/signstar-download-log.js";
import { runCommand } from "../lib/cli/shell.js";
import { downloadLog } from "../lib/tools/download-log.js";

runCommand(command, (ctx) => downloadLog({ ...ctx.tool(), request: ctx.env["SSH_ORIGINAL_COMMAND"], ...(ctx.root !== undefined ? { root: ctx.root } : {}) }));
