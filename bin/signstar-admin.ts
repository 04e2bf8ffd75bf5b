#!/usr/bin/env node
// signstar-admin: see lib/cli/commands/signstar-admin.ts.
import { command } from "../lib/cli/commands/signstar-admin.js";
import { runCommand } from "../lib/cli/shell.js";
import { adminCommand } from "../lib/tools/admin.js";

runCommand(command, (ctx) =>
  adminCommand({
    subcommand: ctx.subcommand!,
    options: ctx.options,
    positionals: ctx.positionals,
    env: ctx.env,
    root: ctx.root,
    // The collector write-hermetic-metrics runs as each user: the metrics executable next to this one.
    executable: process.argv[1] ?? ".",
    out: (text) => process.stdout.write(text),
    warn: (line) => process.stderr.write(`signstar-admin: ${line}\n`),
  }),
);
