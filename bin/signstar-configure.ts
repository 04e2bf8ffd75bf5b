#!/usr/bin/env node
// signstar-configure (root): provisions and reconciles the HSM backends with the config, keeps the admin
// secret (file or Shamir shares), rotates every non-admin secret. --dry-run prints the plan only.
// --wipe-expired-shares is what signstar-share-wipe.service runs. --root puts all state below a directory
// (tests, image builds). Exit codes: README.md "Exit codes".
import { currentCaller } from "../lib/tools/caller.js";
import { configureTool } from "../lib/tools/configure.js";
import { configAt, runTool } from "../lib/tools/force-command.js";

const program = "signstar-configure";

const options = {
  config: { type: "string", short: "c" },
  root: { type: "string" },
  "dry-run": { type: "boolean" },
  "wipe-expired-shares": { type: "boolean" },
} as const;

runTool(program, { options, synopsis: `${program} [--config FILE] [--root DIR] [--dry-run | --wipe-expired-shares]` }, async (args) => {
  await configureTool({
    caller: currentCaller(),
    config: configAt(args.config),
    ...(args.root !== undefined ? { root: args.root } : {}),
    dryRun: args["dry-run"] ?? false,
    wipeExpiredShares: args["wipe-expired-shares"] ?? false,
    out: (line) => process.stdout.write(`${line}\n`),
    env: process.env,
  });
});
