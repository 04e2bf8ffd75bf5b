#!/usr/bin/env node
// signstar-download-signature (also installed as signstar-sign): see lib/cli/commands/signstar-download-signature.ts.
import { command } from "../lib/cli/commands/signstar-download-signature.js";
import { runCommand } from "../lib/cli/shell.js";
import { downloadSignature } from "../lib/tools/download-signature.js";

runCommand(command, (ctx) =>
  downloadSignature({ ...ctx.tool(), stdin: process.stdin, now: () => new Date(), countersDir: ctx.layout.signatureCountersDir, logWriterSocket: ctx.layout.logWriterSocket }),
);
