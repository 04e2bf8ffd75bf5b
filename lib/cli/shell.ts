/**
 * The shell every executable in bin/ goes through: the early audit logger (where the table asks for one), argv
 * parsed from the command table, --help and --version answered, abort signals, the tool's context (caller,
 * configuration location, audit log), the result written to stdout, and the one mapping from an outcome to an
 * exit code and a one-line message: a SignstarError prints its message; anything else is an internal error,
 * printed as one line without a stack trace.
 *
 * A client that disconnects (the SSH session goes away while we write or read) makes stdout/stdin emit EPIPE or
 * ECONNRESET: without a listener Node would print "Unhandled 'error' event" with a stack trace. The shell listens
 * on stdin, stdout and stderr, prints one line (if stderr still works) and exits with ExitCode.Remote (8).
 * Nothing here is heavier than what every server-side executable loads anyway.
 */
import type { ConfigLocation } from "../config/load.js";
import { ExitCode, SignstarError, VANISHED, describeError, oneLine } from "../errors.js";

export { describeError };
import { hostLayout, rootFromEnv, type HostLayout } from "../layout/host-layout.js";
import { syslogSink, type LogSink } from "../log/syslog.js";
import { currentCaller, type Caller } from "../caller/caller.js";
import type { CommandSpec, OptionValues, SubcommandName } from "./command.js";
import { renderHelp } from "./help.js";
import { parseCommandLine, type CommandLineParser } from "./parse.js";
import { packageVersion } from "./version.js";

/** What every ForceCommand passes to its library function. */
export interface ToolContext {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
}

export interface ShellContext<C extends CommandSpec> {
  readonly subcommand: SubcommandName<C> | undefined;
  readonly options: OptionValues<C>;
  readonly positionals: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** The host layout below SIGNSTAR_ROOT (the live system when it is not set). */
  readonly layout: HostLayout;
  /** The root prefix from SIGNSTAR_ROOT, if set. */
  readonly root: string | undefined;
  /** Aborted by the table's abortOn signals. */
  readonly signal: AbortSignal;
  /** The caller, the configuration location (--config, else the environment) and the audit log. */
  tool(): ToolContext;
  /** The audit log, tagged with the command's name (or `tag`). */
  audit(tag?: string): LogSink;
  /** Errors from here on are reported under `name` (the share tool's upload mode speaks as the upload tool). */
  reportAs(name: string): void;
  /** One line on stderr that is not the run's failure (e.g. a key left out of a keyring), sanitised like errors. */
  warn(message: string): void;
}

export interface ShellOptions {
  /** The parser (default: node:util parseArgs from the table). */
  readonly parser?: CommandLineParser;
}

let vanished = false;
let reported = false;

function report(program: string, message: string): void {
  if (reported) return;
  reported = true;
  try {
    process.stderr.write(`${program}: ${oneLine(message)}\n`);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}

/** One line instead of an unhandled 'error' event when the client vanished (stdin/stdout/stderr errors). */
function guardStdio(program: () => string): void {
  process.stderr.on("error", () => {
    vanished = true;
    process.exitCode = ExitCode.Remote;
  });
  for (const [name, stream] of [
    ["stdout", process.stdout],
    ["stdin", process.stdin],
  ] as const) {
    stream.on("error", (error: Error) => {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      if (VANISHED.has(code)) {
        vanished = true;
        report(program(), `the client went away (${code} on ${name})`);
        process.exitCode = ExitCode.Remote;
      } else {
        report(program(), `cannot use ${name}: ${code}`);
        process.exitCode = ExitCode.Internal;
      }
    });
  }
}

/** Writes to stdout and resolves once the data was handed on (rejects on a write error such as EPIPE). */
function writeStdout(data: string | Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => process.stdout.write(data, (e) => (e ? reject(e) : resolve())));
}

/**
 * Runs an executable: `body` gets the parsed command line and the tool context; what it returns (text or bytes)
 * goes to stdout, a number is the exit code. See the module comment.
 */
export function runCommand<const C extends CommandSpec>(
  spec: C,
  body: (ctx: ShellContext<C>) => Promise<string | Uint8Array | number | void>,
  shellOptions: ShellOptions = {},
): void {
  const env = process.env;
  let program: string = spec.name;
  guardStdio(() => program);
  // The audit logger starts first, so that its start-up overlaps reading, configuration and the HSM.
  const sinks = new Map<string, LogSink>();
  if (spec.audit?.early) sinks.set(spec.name, syslogSink(spec.name, env, undefined, { early: true }));
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const s of spec.abortOn ?? []) process.removeListener(s, onSignal); // a second signal acts at once
    interrupted = signal === "SIGINT";
    controller.abort(interrupted ? new SignstarError("interrupted", ExitCode.Interrupted) : new SignstarError(`stopped by ${signal}`, ExitCode.Remote));
    // A hung-up session must not linger: what the run did not finish by then ends with Remote.
    if (!interrupted && spec.abortExitAfterMs !== undefined) setTimeout(() => process.exit(ExitCode.Remote), spec.abortExitAfterMs).unref();
  };
  for (const s of spec.abortOn ?? []) process.on(s, onSignal);

  const run = async (): Promise<number> => {
    const line = (shellOptions.parser ?? parseCommandLine)(spec, process.argv.slice(2), env);
    if (line.kind === "help") {
      await writeStdout(renderHelp(spec, line.subcommand));
      return ExitCode.Ok;
    }
    if (line.kind === "version") {
      await writeStdout(`${spec.name} ${packageVersion()}\n`);
      return ExitCode.Ok;
    }
    const root = rootFromEnv(env);
    const audit = (tag: string = spec.name): LogSink => {
      let sink = sinks.get(tag);
      if (!sink) {
        sink = syslogSink(tag, env);
        sinks.set(tag, sink);
      }
      return sink;
    };
    const configPath = (line.options as { readonly config?: string }).config;
    const ctx: ShellContext<C> = {
      subcommand: line.subcommand,
      options: line.options,
      positionals: line.positionals,
      env,
      layout: hostLayout(root),
      root,
      signal: controller.signal,
      tool: () => ({ caller: currentCaller(), config: { ...(configPath !== undefined ? { path: configPath } : {}), env }, log: audit() }),
      audit,
      reportAs: (name) => {
        program = name;
      },
      warn: (message) => void process.stderr.write(`${program}: ${oneLine(message)}\n`),
    };
    const result = await body(ctx);
    if (typeof result === "number") return result;
    if (result !== undefined) await writeStdout(result);
    return ExitCode.Ok;
  };
  run().then(
    (code) => {
      process.exitCode = vanished ? ExitCode.Remote : code;
    },
    (error: unknown) => {
      const { message, exitCode } = describeError(error, interrupted);
      report(program, message);
      process.exitCode = vanished ? ExitCode.Remote : exitCode;
    },
  ).finally(() => {
    for (const s of spec.abortOn ?? []) process.removeListener(s, onSignal);
  });
}
