#!/usr/bin/env node
// signstar-configure-build: see lib/cli/commands/signstar-configure-build.ts.
import { command } from "../lib/cli/commands/signstar-configure-build.js";
import { runCommand } from "../lib/cli/shell.js";
import { configureBuildTool } from "../lib/tools/configure-build.js";

runCommand(command, async (ctx) => {
  await configureBuildTool({
    ...(ctx.options.config !== undefined ? { configPath: ctx.options.config } : {}),
    ...(ctx.options.root !== undefined ? { root: ctx.options.root } : {}),
    ...(ctx.options["bin-dir"] !== undefined ? { binDir: ctx.options["bin-dir"] } : {}),
    dryRun: ctx.options["dry-run"] ?? false,
    env: ctx.env,
    out: (line) => process.stdout.write(`${line}\n`),
  });
});
