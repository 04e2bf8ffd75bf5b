/**
 * The shell the executables in bin/ share: argv parsed with node:util parseArgs (a mistake is a usage error
 * naming the synopsis), the caller, the configuration location and the audit log of a ForceCommand, and the
 * result written to stdout. Nothing here is heavier than what every server-side executable loads anyway.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { ConfigLocation } from "../config/load.js";
import { syslogSink, type LogSink } from "../log/syslog.js";
import { currentCaller, type Caller } from "./caller.js";
import { runMain } from "./main.js";
import { usageError } from "./usage.js";

/** The option table of parseArgs. */
export type ToolOptions = NonNullable<ParseArgsConfig["options"]>;
/** The parsed option values for `O` (no positionals). */
export type ToolArgs<O extends ToolOptions> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>["values"];

/** Parses this process's arguments: options only, strictly; a mistake becomes usageError(…, synopsis). */
export function toolArgs<const O extends ToolOptions>(options: O, synopsis: string): ToolArgs<O> {
  try {
    return parseArgs({ options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw usageError(e, synopsis);
  }
}

/** Where the configuration is: `--config FILE` if given, else what the environment says. */
export function configAt(path: string | undefined): ConfigLocation {
  return { ...(path !== undefined ? { path } : {}), env: process.env };
}

/** What every ForceCommand passes to its library function. */
export interface ToolContext {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
}

/** The caller, the configuration location and the audit log (tagged `program`), made in this order. */
export function toolContext(program: string, configPath: string | undefined): ToolContext {
  return { caller: currentCaller(), config: configAt(configPath), log: syslogSink(program) };
}

/** Writes to stdout and resolves once the data was handed on (rejects on a write error such as EPIPE). */
export function writeStdout(data: string | Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => process.stdout.write(data, (e) => (e ? reject(e) : resolve())));
}

/**
 * runMain (./main.ts) of a tool whose argv is options only: parses them, runs `body` and writes what it returns
 * to stdout (without waiting for the write; `body` returns nothing when it writes itself).
 */
export function runTool<const O extends ToolOptions>(
  program: string,
  argv: { readonly options: O; readonly synopsis: string },
  body: (args: ToolArgs<O>) => Promise<string | Uint8Array | void>,
): void {
  runMain(program, async () => {
    const output = await body(toolArgs(argv.options, argv.synopsis));
    if (output !== undefined) process.stdout.write(output);
  });
}
