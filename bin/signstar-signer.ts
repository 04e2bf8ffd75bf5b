#!/usr/bin/env node
// signstar-signer: see lib/cli/commands/signstar-signer.ts.
import { command } from "../lib/cli/commands/signstar-signer.js";
import { runCommand } from "../lib/cli/shell.js";
import { runSigner } from "../lib/tools/signer.js";

runCommand(command, (ctx) => {
  const { caller, config } = ctx.tool();
  const idle = Number(ctx.env["SIGNSTAR_SIGNER_IDLE_SECONDS"] ?? "300");
  return runSigner({
    caller,
    config,
    env: ctx.env,
    socketPath: ctx.layout.signerSocket(caller.name),
    log: ctx.audit("signstar-download-signature"),
    now: () => new Date(),
    countersDir: ctx.layout.signatureCountersDir,
    logWriterSocket: ctx.layout.logWriterSocket,
    idleTimeoutMs: Number.isInteger(idle) && idle >= 1 && idle <= 86_400 ? idle * 1000 : 300_000,
    signal: ctx.signal,
  });
});
