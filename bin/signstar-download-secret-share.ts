#!/usr/bin/env node
// signstar-download-secret-share: see lib/cli/commands/signstar-download-secret-share.ts.
import { command } from "../lib/cli/commands/signstar-download-secret-share.js";
import { runCommand } from "../lib/cli/shell.js";
import { secretShareCommand } from "../lib/tools/download-secret-share.js";

runCommand(command, (ctx) =>
  secretShareCommand({
    original: ctx.env["SSH_ORIGINAL_COMMAND"],
    sshConnection: ctx.env["SSH_CONNECTION"],
    tool: ctx.tool(),
    audit: ctx.audit,
    reportAs: ctx.reportAs,
    root: ctx.options.root ?? "/",
    now: () => new Date(),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    signal: ctx.signal,
  }),
);
