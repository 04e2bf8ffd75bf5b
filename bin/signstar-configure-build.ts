#!/usr/bin/env node
// Derives Signstar's Unix users, tmpfiles.d entries, authorized_keys files and sshd drop-ins from the
// configuration and applies them (idempotent). Root only, except --root DIR (render below DIR) and --dry-run.
import { readFileSync } from "node:fs";
import { configureBuildCommand } from "../lib/host/configure-build.js";
import { runTool } from "../lib/tools/force-command.js";

const program = "signstar-configure-build";
const synopsis = `${program} [--config FILE] [--root DIR] [--dry-run] [--bin-dir DIR] [--version]`;

/** The package version, from the package.json next to bin/ (source) or dist/bin/ (compiled). */
function version(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8"));
      if (typeof pkg === "object" && pkg !== null && "name" in pkg && pkg.name === "signstar-ts" && "version" in pkg) return String(pkg.version);
    } catch {
      // try the next candidate
    }
  }
  return "unknown";
}

const options = {
  config: { type: "string", short: "c" },
  root: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  "bin-dir": { type: "string" },
  version: { type: "boolean", default: false },
} as const;

runTool(program, { options, synopsis }, async (args) => {
  if (args.version) {
    process.stdout.write(`${program} ${version()}\n`);
    return;
  }
  await configureBuildCommand({
    ...(args.config !== undefined ? { configPath: args.config } : {}),
    ...(args.root !== undefined ? { root: args.root } : {}),
    ...(args["bin-dir"] !== undefined ? { binDir: args["bin-dir"] } : {}),
    dryRun: args["dry-run"] ?? false,
    env: process.env,
    out: (line) => process.stdout.write(`${line}\n`),
  });
});
