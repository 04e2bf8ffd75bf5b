#!/usr/bin/env node
// signstar-config: see lib/cli/commands/signstar-config.ts.
import { command } from "../lib/cli/commands/signstar-config.js";
import { runCommand } from "../lib/cli/shell.js";
import { signingLogVerifierKey, signstarConfig } from "../lib/tools/config.js";

runCommand(command, async (ctx) => {
  if (ctx.subcommand === "log-key") {
    process.stdout.write(await signingLogVerifierKey({ path: ctx.options.config, env: ctx.env }, ctx.root));
    return 0;
  }
  const out = await signstarConfig(ctx.subcommand!, { path: ctx.options.config, env: ctx.env });
  process.stdout.write(out.stdout);
  process.stderr.write(out.stderr);
  return out.exitCode;
});
