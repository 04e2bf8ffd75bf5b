#!/usr/bin/env node
// Checks a Signstar configuration (summary of mappings per role, or every problem with its location) and
// converts Signstar's own TOML layout into the native one.
import { parseArgs } from "node:util";
import { signstarConfigCommand, type Command } from "../lib/config/tool.js";
import { runMain } from "../lib/tools/main.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-config";
const synopsis = `${program} check|convert [--config FILE]`;

runMain(program, async () => {
  let command: Command;
  let config: string | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: process.argv.slice(2),
      options: { config: { type: "string", short: "c" } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length !== 1 || (positionals[0] !== "check" && positionals[0] !== "convert")) {
      throw new Error(positionals.length === 0 ? "missing command" : `unknown command ${JSON.stringify(positionals.join(" "))}`);
    }
    command = positionals[0];
    config = values.config;
  } catch (e) {
    throw usageError(e, synopsis);
  }
  const out = await signstarConfigCommand(command, { path: config, env: process.env });
  process.stdout.write(out.stdout);
  process.stderr.write(out.stderr);
  return out.exitCode;
});
