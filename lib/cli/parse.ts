/**
 * Parses argv from a command table with node:util parseArgs (cheap to load: server-side executables start per
 * request). --help and --version are found first, anywhere before `--`. Every mistake is a UsageError that
 * quotes the synopsis. Option values are checked by type, `env` supplies a missing value, `default` the rest.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../errors.js";
import type { CommandSpec, OptionSpec, OptionValues, SubcommandName, SubcommandSpec } from "./command.js";

export type CommandLine<C extends CommandSpec> =
  | { readonly kind: "help"; readonly subcommand?: SubcommandSpec }
  | { readonly kind: "version" }
  | {
      readonly kind: "run";
      readonly subcommand: SubcommandName<C> | undefined;
      readonly options: OptionValues<C>;
      readonly positionals: readonly string[];
    };

/** A parser of the shell: parseCommandLine here, or the yargs adapter (./yargs.ts) of the interactive client. */
export type CommandLineParser = <C extends CommandSpec>(spec: C, argv: readonly string[], env: NodeJS.ProcessEnv) => CommandLine<C>;

/** `<name> <line> | <name> <line> …`, or one subcommand's. */
export function usageSynopsis(spec: CommandSpec, sub?: SubcommandSpec): string {
  if (sub) return `${spec.name} ${sub.synopsis}`;
  return spec.synopsis.map((line) => `${spec.name} ${line}`).join(" | ");
}

/** Every option the command line may carry (a subcommand's are checked after parsing). */
export function allOptions(spec: CommandSpec): OptionSpec[] {
  const out: OptionSpec[] = [];
  for (const o of [...spec.options, ...(spec.subcommands ?? []).flatMap((s) => s.options)]) {
    if (!out.some((x) => x.name === o.name)) out.push(o);
  }
  return out;
}

/** --help / --version before `--`; help names the subcommand when one is given. */
export function helpOrVersion(spec: CommandSpec, argv: readonly string[]): CommandLine<CommandSpec> | undefined {
  const end = argv.indexOf("--");
  const args = end < 0 ? argv : argv.slice(0, end);
  if (args.includes("--help") || args.includes("-h")) {
    const sub = spec.subcommands?.find((s) => args.includes(s.name));
    return sub ? { kind: "help", subcommand: sub } : { kind: "help" };
  }
  if (args.includes("--version")) return { kind: "version" };
  return undefined;
}

/** A given value of `option` (from argv or its environment variable `what`), converted by type. */
export function optionValue(option: OptionSpec, value: string | boolean, what: string, synopsis: string): string | number | boolean {
  if (option.type === "boolean" || typeof value === "boolean") return value;
  if (option.type === "integer") {
    if (!/^[0-9]{1,12}$/.test(value)) throw new UsageError(`${what} must be a positive integer`, synopsis);
    return Number(value);
  }
  if (option.type === "number") {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${what} must be a number`, synopsis);
    return n;
  }
  return value;
}

/** Fills in environment values and defaults, then checks required options, conflicts and one-of groups. */
export function completeOptions(
  options: readonly OptionSpec[],
  given: Record<string, string | number | boolean>,
  env: NodeJS.ProcessEnv,
  synopsis: string,
  oneOf: readonly (readonly string[])[] = [],
): Record<string, string | number | boolean> {
  const out = { ...given };
  for (const o of options) {
    if (out[o.name] !== undefined) continue;
    const fromEnv = o.env !== undefined ? env[o.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== "") out[o.name] = optionValue(o, fromEnv, o.env!, synopsis);
    else if (o.default !== undefined) out[o.name] = o.default;
    else if (o.required) throw new UsageError(`--${o.name} is required`, synopsis);
  }
  for (const o of options) {
    for (const other of o.conflicts ?? []) {
      if (given[o.name] !== undefined && given[other] !== undefined) throw new UsageError(`--${o.name} and --${other} cannot be used together`, synopsis);
    }
  }
  for (const group of oneOf) {
    if (!group.some((name) => given[name] !== undefined && given[name] !== false)) {
      throw new UsageError(`one of ${group.map((n) => `--${n}`).join(" and ")} is required`, synopsis);
    }
  }
  return out;
}

/** The shell's default parser (see the module comment). */
export function parseCommandLine<C extends CommandSpec>(spec: C, argv: readonly string[], env: NodeJS.ProcessEnv): CommandLine<C> {
  const early = helpOrVersion(spec, argv);
  if (early) return early as CommandLine<C>;
  const synopsis = usageSynopsis(spec);
  const known = allOptions(spec);
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        known.map((o) => [o.name, { type: o.type === "boolean" ? ("boolean" as const) : ("string" as const), ...(o.short ? { short: o.short } : {}) }]),
      ),
      strict: true,
      allowPositionals: spec.subcommands !== undefined || (spec.positionals?.length ?? 0) > 0,
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e), synopsis);
  }
  const given: Record<string, string | number | boolean> = {};
  for (const o of known) {
    const v = (parsed.values as Record<string, string | boolean | undefined>)[o.name];
    if (v !== undefined) given[o.name] = optionValue(o, v, `--${o.name}`, synopsis);
  }
  let positionals = parsed.positionals;
  let sub: SubcommandSpec | undefined;
  if (spec.subcommands) {
    const [name, ...rest] = positionals;
    if (name === undefined) throw new UsageError("missing command", synopsis);
    sub = spec.subcommands.find((s) => s.name === name);
    if (!sub) throw new UsageError(`unknown command ${JSON.stringify(name)}`, synopsis);
    const extra = Object.keys(given).find((k) => !sub!.options.some((o) => o.name === k));
    if (extra !== undefined) throw new UsageError(`--${extra} does not apply to ${sub.name}`, synopsis);
    const variadic = sub.positionals.at(-1)?.variadic === true;
    const optional = sub.positionals.at(-1)?.optional === true;
    const least = sub.positionals.length - (optional ? 1 : 0);
    if (variadic ? rest.length < least : rest.length < least || rest.length > sub.positionals.length) {
      const count = optional ? `${least} or ${sub.positionals.length}` : `${variadic ? "at least " : ""}${sub.positionals.length}`;
      throw new UsageError(`${sub.name} takes ${count} argument(s)`, synopsis);
    }
    positionals = rest;
  } else if (positionals.length !== (spec.positionals?.length ?? 0)) {
    throw new UsageError(`${spec.name} takes ${spec.positionals?.length ?? 0} argument(s)`, synopsis);
  }
  const options = completeOptions(sub ? sub.options : spec.options, given, env, synopsis, sub?.oneOf);
  return { kind: "run", subcommand: sub?.name as SubcommandName<C> | undefined, options: options as OptionValues<C>, positionals };
}
