#!/usr/bin/env node
// signstar-log-writer: see lib/cli/commands/signstar-log-writer.ts.
import { command } from "../lib/cli/commands/signstar-log-writer.js";
import { runCommand } from "../lib/cli/shell.js";
import { runLogWriter } from "../lib/tools/log-writer.js";

runCommand(command, (ctx) => {
  const key = ctx.options.key;
  return runLogWriter({
    config: ctx.tool().config,
    ...(typeof key === "string" ? { keyFile: key } : {}),
    logDir: ctx.layout.signingLogDir,
    socket: ctx.layout.logWriterSocket,
    env: ctx.env,
    stdin: process.stdin,
    ...(ctx.root !== undefined ? { secretRoot: ctx.root } : {}),
    log: ctx.audit(),
    signal: ctx.signal,
  });
});
