#!/usr/bin/env node
// signstar-download-key-certificates: see lib/cli/commands/signstar-download-key-certificates.ts.
import { command } from "../lib/cli/commands/signstar-download-key-certificates.js";
import { runCommand } from "../lib/cli/shell.js";
import { certificateMode, downloadKeyCertificates } from "../lib/tools/download-key-certificates.js";

runCommand(command, (ctx) => downloadKeyCertificates({ ...ctx.tool(), mode: certificateMode(ctx.env["SSH_ORIGINAL_COMMAND"], ctx.options.json === true), warn: ctx.warn }));
