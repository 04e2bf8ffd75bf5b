#!/usr/bin/env node
/**
 * signstar-request-signature: the signing client.
 *
 *   signstar-request-signature prepare FILE
 *       Hash FILE and print the signing request JSON on stdout.
 *   signstar-request-signature send --host H [--port 22] --user U (--identity KEY | --agent)
 *                                   --known-hosts F [--output O] [--armor] [--force]
 *                                   [--timeout 60] [--connect-timeout 10] FILE
 *       Hash FILE, send the request over SSH (host key checked against F), write the signature to FILE.sig
 *       (binary OpenPGP), or FILE.asc with --armor (armored text), or O; print the output path on stdout.
 *
 * Exit codes (ExitCode in lib/errors.ts):
 *   0   success
 *   1   internal error (a bug)
 *   2   usage: unknown/missing options, bad port, host or user, both or neither of --identity/--agent
 *   3   bad input: FILE missing, unreadable or not a regular file; output exists (no --force), is a directory,
 *       is FILE itself, or cannot be written
 *   4   client configuration: identity key unreadable, too open (chmod 600), passphrase-protected (use ssh-agent),
 *       not a private key; known_hosts unreadable; ssh-agent socket missing
 *   5   trust: host key unknown, changed or @revoked per known_hosts; the host refused our SSH key
 *   8   remote: host unreachable, handshake/connect timeout, overall timeout, remote command failed (its first
 *       stderr line and exit code are shown), no exit status, oversized or invalid response, signature not
 *       over FILE
 *   130 interrupted (Ctrl-C)
 * Errors are one line on stderr; nothing is printed on stdout and no output file is left behind.
 */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { ExitCode, SignstarError, oneLine } from "../lib/errors.js";
import { progressBar, type ProgressBar } from "../lib/client/progress.js";
import { prepareRequest, sendSigningRequest } from "../lib/client/request-signature.js";

const NAME = "signstar-request-signature";

class UsageError extends SignstarError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
  }
}

type Action = (signal: AbortSignal) => Promise<void>;

function parse(argv: string[]): Action | null {
  let action: Action | null = null;
  const bar = (file: string): ProgressBar | undefined =>
    process.stderr.isTTY ? progressBar(process.stderr, `hashing ${file}`) : undefined;

  yargs(argv)
    .scriptName(NAME)
    .usage("$0 <command> [options] FILE")
    .command(
      "prepare <file>",
      "hash FILE and print the signing request JSON",
      (y) => y.positional("file", { type: "string", demandOption: true, describe: "file to sign" }),
      (a) => {
        action = async (signal) => {
          const p = bar(a.file);
          try {
            const json = await prepareRequest(a.file, { signal, ...(p ? { onProgress: p.onProgress } : {}) });
            p?.finish();
            process.stdout.write(`${json}\n`);
          } finally {
            p?.finish();
          }
        };
      },
    )
    .command(
      "send <file>",
      "request a signature for FILE from a signing host over SSH",
      (y) =>
        y
          .positional("file", { type: "string", demandOption: true, describe: "file to sign" })
          .option("host", { type: "string", demandOption: true, describe: "signing host" })
          .option("port", { type: "number", default: 22, describe: "SSH port" })
          .option("user", { type: "string", demandOption: true, describe: "SSH user (mapped to a signing key)" })
          .option("identity", { type: "string", describe: "SSH private key file (unencrypted, mode 0600)" })
          .option("agent", { type: "boolean", describe: "authenticate with the ssh-agent at $SSH_AUTH_SOCK" })
          .option("known-hosts", { type: "string", demandOption: true, describe: "OpenSSH known_hosts file" })
          .option("output", { type: "string", describe: "signature file (default FILE.sig, or FILE.asc with --armor)" })
          .option("armor", { type: "boolean", default: false, describe: "write the ASCII-armored signature" })
          .option("force", { type: "boolean", default: false, describe: "replace an existing output file" })
          .option("timeout", { type: "number", default: 60, describe: "overall time limit in seconds" })
          .option("connect-timeout", { type: "number", default: 10, describe: "connect + SSH handshake limit in seconds" })
          .conflicts("identity", "agent")
          .check((a) => {
            if (a.identity === undefined && a.agent !== true) throw new Error("one of --identity and --agent is required");
            return true;
          }),
      (a) => {
        action = async (signal) => {
          const p = bar(a.file);
          try {
            const res = await sendSigningRequest({
              host: a.host,
              port: a.port,
              user: a.user,
              ...(a.identity !== undefined ? { identity: a.identity } : { agent: true }),
              knownHostsPath: a.knownHosts,
              file: a.file,
              ...(a.output !== undefined ? { output: a.output } : {}),
              armor: a.armor,
              force: a.force,
              timeoutMs: a.timeout * 1000,
              readyTimeoutMs: a.connectTimeout * 1000,
              signal,
              ...(p ? { onProgress: p.onProgress } : {}),
            });
            p?.finish();
            if (res.remoteNotice !== "") process.stderr.write(`${NAME}: host says: ${res.remoteNotice}\n`);
            process.stdout.write(`${res.output}\n`);
          } finally {
            p?.finish();
          }
        };
      },
    )
    .demandCommand(1, "a command is required: prepare or send")
    .strict()
    .help()
    .version(false)
    .exitProcess(false)
    .fail((msg: string | undefined, err: Error | undefined) => {
      throw new UsageError(msg ?? err?.message ?? "invalid usage");
    })
    .parseSync();
  return action;
}

async function main(): Promise<number> {
  const controller = new AbortController();
  const onSigint = (): void => {
    process.off("SIGINT", onSigint); // a second Ctrl-C kills at once
    controller.abort(new SignstarError("interrupted", 130));
  };
  process.on("SIGINT", onSigint);
  try {
    const action = parse(hideBin(process.argv));
    if (action === null) return ExitCode.Ok; // --help was printed
    await (action as Action)(controller.signal);
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof SignstarError) {
      process.stderr.write(`${NAME}: ${err.message}\n`);
      if (err instanceof UsageError) process.stderr.write(`Try '${NAME} --help'.\n`);
      return err.exitCode;
    }
    if (err instanceof Error && err.name === "AbortError") {
      process.stderr.write(`${NAME}: interrupted\n`);
      return 130;
    }
    process.stderr.write(`${NAME}: internal error: ${oneLine(err instanceof Error ? err.message : String(err))}\n`);
    return ExitCode.Internal;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

process.exitCode = await main();
