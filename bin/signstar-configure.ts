#!/usr/bin/env node
// signstar-configure (root): see lib/cli/commands/signstar-configure.ts.
import { command } from "../lib/cli/commands/signstar-configure.js";
import { runCommand } from "../lib/cli/shell.js";
import { configureTool } from "../lib/tools/configure.js";

runCommand(command, async (ctx) => {
  const { caller, config } = ctx.tool();
  await configureTool({
    caller,
    config,
    ...(ctx.options.root !== undefined ? { root: ctx.options.root } : {}),
    dryRun: ctx.options["dry-run"] ?? false,
    wipeExpiredShares: ctx.options["wipe-expired-shares"] ?? false,
    out: (line) => process.stdout.write(`${line}\n`),
    env: ctx.env,
  });
});
