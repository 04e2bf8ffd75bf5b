#!/usr/bin/env node
// ForceCommand of wire_guard_download users: prints the host's WireGuard public key.
// SSH_ORIGINAL_COMMAND is ignored. Exit codes: README.md "Exit codes".
import { downloadWireGuard } from "../lib/tools/download-wireguard.js";
import { runTool, toolContext } from "../lib/tools/force-command.js";
import { rootFromEnv } from "../lib/layout/host-layout.js";

const program = "signstar-download-wireguard";

runTool(program, { options: { config: { type: "string" } }, synopsis: `${program} [--config FILE]` }, async (args) => {
  const root = rootFromEnv(process.env);
  return downloadWireGuard({ ...toolContext(program, args.config), ...(root !== undefined ? { root } : {}) });
});
