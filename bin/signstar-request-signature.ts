#!/usr/bin/env node
// signstar-request-signature (the client): see lib/cli/commands/signstar-request-signature.ts.
import { command } from "../lib/cli/commands/signstar-request-signature.js";
import { runCommand } from "../lib/cli/shell.js";
import { parseWithYargs } from "../lib/cli/yargs.js";
import { requestSignature } from "../lib/tools/request-signature.js";

runCommand(
  command,
  (ctx) => {
    const o = ctx.options;
    // The SSH connection's options, the same for send and verify-log (required there by the command table).
    const connection = {
      host: o.host!,
      port: o.port!,
      user: o.user!,
      ...(o.identity !== undefined ? { identity: o.identity } : {}),
      ...(o.agent !== undefined ? { agent: o.agent } : {}),
      knownHosts: o["known-hosts"]!,
      timeout: o.timeout!,
      connectTimeout: o["connect-timeout"]!,
    };
    return requestSignature({
      files: ctx.positionals,
      ...(ctx.subcommand === "send"
        ? {
            send: {
              ...connection,
              ...(o.output !== undefined ? { output: o.output } : {}),
              armor: o.armor ?? false,
              force: o.force ?? false,
              parallel: o.parallel!,
              failFast: o["fail-fast"] ?? false,
            },
          }
        : {}),
      ...(ctx.subcommand === "verify-log"
        ? {
            verifyLog: {
              ...connection,
              ...(o["log-key"] !== undefined ? { logKey: o["log-key"] } : {}),
              ...(o["log-key-file"] !== undefined ? { logKeyFile: o["log-key-file"] } : {}),
              ...(o["checkpoints-dir"] !== undefined ? { checkpointsDir: o["checkpoints-dir"] } : {}),
              parallel: o.parallel!,
            },
          }
        : {}),
      signal: ctx.signal,
      stderr: process.stderr,
      program: command.name,
    });
  },
  { parser: parseWithYargs },
);
