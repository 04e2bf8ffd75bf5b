/**
 * The command table of an executable: everything its command line accepts and everything a reader needs to use
 * it, as data. The shell (./shell.ts) parses argv from it and renders --help and --version; the same tables are
 * complete enough for man pages (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS, FILES, ENVIRONMENT,
 * EXAMPLES, SEE ALSO) and shell completions, which build scripts make by importing ./commands/index.ts (data
 * only: importing a table runs nothing).
 */
import type { ExitCodeName } from "../errors.js";

/** `integer`: digits only (a size, a count); `number`: any finite number (seconds). */
export type OptionType = "string" | "boolean" | "integer" | "number";

export interface OptionSpec {
  /** The long name, without the leading `--`. */
  readonly name: string;
  /** A one-letter short name, without the `-`. */
  readonly short?: string;
  readonly type: OptionType;
  /** How help and synopsis name the value (FILE, DIR, N); not for booleans. */
  readonly value?: string;
  /** The value when the option is not given (shown in help). */
  readonly default?: string | number | boolean;
  /** One line. */
  readonly description: string;
  readonly required?: boolean;
  /** An environment variable that supplies the value when the option is not given (listed under ENVIRONMENT). */
  readonly env?: string;
  /** Options that cannot be given together with this one. */
  readonly conflicts?: readonly string[];
}

export interface PositionalSpec {
  /** As help and synopsis show it (FILE, BACKUP). */
  readonly name: string;
  readonly description: string;
  /** The last positional may be given one or more times (`FILE…`). */
  readonly variadic?: boolean;
  /** The last positional may be left out (`[FILE]`). */
  readonly optional?: boolean;
}

export interface SubcommandSpec {
  readonly name: string;
  /** One line. */
  readonly summary: string;
  /** The subcommand's synopsis after the program name (`send --host H … FILE`). */
  readonly synopsis: string;
  readonly options: readonly OptionSpec[];
  readonly positionals: readonly PositionalSpec[];
  /** Groups of options of which at least one must be given (e.g. --identity or --agent). */
  readonly oneOf?: readonly (readonly string[])[];
}

/** A command the SSH client may ask for (SSH_ORIGINAL_COMMAND), whitelisted by a ForceCommand. */
export interface RemoteCommandSpec {
  /** As the client types it after `ssh user@host` ("" for none). */
  readonly command: string;
  readonly description: string;
}

export interface CommandSpec {
  readonly name: string;
  /** Other names the same executable is installed under. */
  readonly aliases?: readonly string[];
  /** server: a ForceCommand run by sshd (bundled, start-up matters); admin: run by operators or units; client. */
  readonly kind: "server" | "admin" | "client";
  /** The man page section: 8 for root's system administration tools, 1 (the default) for everything else. */
  readonly section?: 1 | 8;
  /** One line (man NAME). */
  readonly summary: string;
  /** One paragraph (man DESCRIPTION). */
  readonly description: string;
  /** Synopsis lines after the program name; a usage error quotes them, joined by ` | <name> `. */
  readonly synopsis: readonly string[];
  readonly options: readonly OptionSpec[];
  readonly positionals?: readonly PositionalSpec[];
  readonly subcommands?: readonly SubcommandSpec[];
  /** What the SSH client may ask for through SSH_ORIGINAL_COMMAND (everything else is refused). */
  readonly remoteCommands?: readonly RemoteCommandSpec[];
  /** The exit codes it can return (lib/errors.ts EXIT_CODES says what they mean). */
  readonly exitCodes: readonly ExitCodeName[];
  readonly files: readonly { readonly path: string; readonly description: string }[];
  readonly environment: readonly { readonly name: string; readonly description: string }[];
  readonly examples: readonly { readonly command: string; readonly description: string }[];
  readonly seeAlso: readonly string[];
  /** Audit entries to the system log, tagged with the name; `early`: the logger starts before argv is parsed. */
  readonly audit?: { readonly early: boolean };
  /** Signals that abort the run (the body gets an AbortSignal); SIGINT ends with exit code Interrupted. */
  readonly abortOn?: readonly NodeJS.Signals[];
  /** After such a signal (other than SIGINT), exit with Remote if the run has not ended within this time. */
  readonly abortExitAfterMs?: number;
}

/** The options every executable has; the shell handles them before anything else. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: "help", short: "h", type: "boolean", description: "print this help and exit" },
  { name: "version", type: "boolean", description: "print the name and version and exit" },
];

type ValueOf<O extends OptionSpec> = O["type"] extends "boolean" ? boolean : O["type"] extends "string" ? string : number;

/** Every option of a command and its subcommands. */
type AllOptions<C extends CommandSpec> =
  | C["options"][number]
  | (C["subcommands"] extends readonly SubcommandSpec[] ? C["subcommands"][number]["options"][number] : never);

/** The parsed option values of a command (given options only; the shell fills in defaults and `env` values). */
export type OptionValues<C extends CommandSpec> = { readonly [O in AllOptions<C> as O["name"]]?: ValueOf<O> };

/** The subcommand names of a command. */
export type SubcommandName<C extends CommandSpec> = C["subcommands"] extends readonly SubcommandSpec[] ? C["subcommands"][number]["name"] : never;
