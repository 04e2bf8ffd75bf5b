#!/usr/bin/env node
// signstar-download-metrics: see lib/cli/commands/signstar-download-metrics.ts.
import { command } from "../lib/cli/commands/signstar-download-metrics.js";
import { runCommand } from "../lib/cli/shell.js";
import { downloadMetrics } from "../lib/tools/download-metrics.js";

runCommand(command, (ctx) => downloadMetrics({ ...ctx.tool(), now: () => new Date(), ...(ctx.root !== undefined ? { root: ctx.root } : {}) }));
