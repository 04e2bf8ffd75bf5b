#!/usr/bin/env node
// signstar-download-wireguard: see lib/cli/commands/signstar-download-wireguard.ts.
import { command } from "../lib/cli/commands/signstar-download-wireguard.js";
import { runCommand } from "../lib/cli/shell.js";
import { downloadWireGuard } from "../lib/tools/download-wireguard.js";

runCommand(command, (ctx) => downloadWireGuard({ ...ctx.tool(), ...(ctx.root !== undefined ? { root: ctx.root } : {}) }));
