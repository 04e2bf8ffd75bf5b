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
    return requestSignature({
      files: ctx.positionals,
      ...(ctx.subcommand === "send"
        ? {
            send: {
              host: o.host!,
              port: o.port!,
              user: o.user!,
              ...(o.identity !== undefined ? { identity: o.identity } : {}),
              ...(o.agent !== undefined ? { agent: o.agent } : {}),
              knownHosts: o["known-hosts"]!,
              ...(o.output !== undefined ? { output: o.output } : {}),
              armor: o.armor ?? false,
              force: o.force ?? false,
              timeout: o.timeout!,
              connectTimeout: o["connect-timeout"]!,
              parallel: o.parallel!,
              failFast: o["fail-fast"] ?? false,
            },
          }
        : {}),
      ...(ctx.subcommand === "verify-log"
        ? {
            verifyLog: {
              host: o.host!,
              port: o.port!,
              user: o.user!,
              ...(o.identity !== undefined ? { identity: o.identity } : {}),
              ...(o.agent !== undefined ? { agent: o.agent } : {}),
              knownHosts: o["known-hosts"]!,
              ...(o["log-key"] !== undefined ? { logKey: o["log-key"] } : {}),
              ...(o["log-key-file"] !== undefined ? { logKeyFile: o["log-key-file"] } : {}),
              ...(o["checkpoints-dir"] !== undefined ? { checkpointsDir: o["checkpoints-dir"] } : {}),
              timeout: o.timeout!,
              connectTimeout: o["connect-timeout"]!,
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
