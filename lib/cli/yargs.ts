/**
 * The interactive client parses with yargs (the project's parser for interactive CLIs), fed from the same command
 * table as everything else: commands, options, types, defaults, required options, conflicts and one-of groups
 * come from the table; --help and --version are the shell's (rendered from the table), never yargs' own.
 */
import yargs, { type Options } from "yargs";
import { UsageError } from "../errors.js";
import type { CommandSpec, OptionSpec, OptionValues, SubcommandName } from "./command.js";
import { helpOrVersion, usageSynopsis, type CommandLine } from "./parse.js";

function yargsOption(o: OptionSpec): Options {
  return {
    type: o.type === "boolean" ? "boolean" : o.type === "string" ? "string" : "number",
    describe: o.description,
    ...(o.default !== undefined ? { default: o.default } : {}),
    ...(o.required ? { demandOption: true } : {}),
    ...(o.short ? { alias: o.short } : {}),
  };
}

export function parseWithYargs<C extends CommandSpec>(spec: C, argv: readonly string[]): CommandLine<C> {
  const early = helpOrVersion(spec, argv);
  if (early) return early as CommandLine<C>;
  const subcommands = spec.subcommands ?? [];
  let chosen: { name: string; values: Record<string, unknown>; positionals: string[] } | undefined;
  let parser = yargs([...argv]).scriptName(spec.name);
  for (const o of spec.options) parser = parser.option(o.name, yargsOption(o));
  for (const sub of subcommands) {
    const positionalNames = sub.positionals.map((p) => p.name);
    parser = parser.command(
      [sub.name, ...sub.positionals.map((p) => (p.optional ? `[${p.name}]` : `<${p.name}${p.variadic ? ".." : ""}>`))].join(" "),
      sub.summary,
      (y) => {
        let c = y;
        for (const p of sub.positionals) c = c.positional(p.name, { type: "string", demandOption: p.optional !== true, describe: p.description });
        for (const o of sub.options) c = c.option(o.name, yargsOption(o));
        for (const o of sub.options) for (const other of o.conflicts ?? []) c = c.conflicts(o.name, other);
        return c.check((a) => {
          // yargs collects a repeated option into an array; every option here takes one value (`--host a --host b`
          // would otherwise reach the tool as an array).
          for (const o of [...spec.options, ...sub.options]) {
            if (Array.isArray(a[o.name])) throw new Error(`--${o.name} is given more than once; give it once`);
          }
          for (const group of sub.oneOf ?? []) {
            if (!group.some((n) => a[n] !== undefined && a[n] !== false)) throw new Error(`one of ${group.map((n) => `--${n}`).join(" and ")} is required`);
          }
          return true;
        });
      },
      (a) => {
        const values: Record<string, unknown> = {};
        for (const o of [...spec.options, ...sub.options]) if (a[o.name] !== undefined) values[o.name] = a[o.name];
        chosen = { name: sub.name, values, positionals: positionalNames.flatMap((n) => (Array.isArray(a[n]) ? a[n].map(String) : a[n] === undefined ? [] : [String(a[n])])) };
      },
    );
  }
  const synopsis = usageSynopsis(spec);
  parser
    .demandCommand(1, `a command is required: ${subcommands.map((s) => s.name).join(" or ")}`)
    .strict()
    .help(false)
    .version(false)
    .exitProcess(false)
    .fail((msg: string | undefined, err: Error | undefined) => {
      throw new UsageError(msg ?? err?.message ?? "invalid usage", synopsis);
    })
    .parseSync();
  if (chosen === undefined) throw new UsageError("missing command", synopsis);
  return {
    kind: "run",
    subcommand: chosen.name as SubcommandName<C>,
    options: chosen.values as OptionValues<C>,
    positionals: chosen.positionals,
  };
}
