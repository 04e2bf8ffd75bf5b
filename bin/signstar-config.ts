#!/usr/bin/env node
// signstar-config: see lib/cli/commands/signstar-config.ts.
import { command } from "../lib/cli/commands/signstar-config.js";
import { runCommand } from "../lib/cli/shell.js";
import { signstarConfig } from "../lib/tools/config.js";

runCommand(command, async (ctx) => {
  const out = await signstarConfig(ctx.subcommand!, { path: ctx.options.config, env: ctx.env });
  process.stdout.write(out.stdout);
  process.stderr.write(out.stderr);
  return out.exitCode;
});
