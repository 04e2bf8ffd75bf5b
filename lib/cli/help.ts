/** --help text, rendered from the command table (the same data man pages are made from). */
import { EXIT_CODES } from "../errors.js";
import { COMMON_OPTIONS, type CommandSpec, type OptionSpec, type SubcommandSpec } from "./command.js";

const WIDTH = 100;
const COLUMN = 28;

/** Word-wraps `text` to WIDTH columns, each line after the first indented by `indent`. */
function wrap(text: string, indent: number, first = 0): string {
  const lines: string[] = [];
  let line = "";
  let width = WIDTH - first;
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
      width = WIDTH - indent;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(indent)}`);
}

function row(left: string, right: string, column = COLUMN): string {
  const head = `  ${left}`;
  const pad = head.length < column ? " ".repeat(column - head.length) : `\n${" ".repeat(column)}`;
  return `${head}${pad}${wrap(right, column, column)}`;
}

function optionRow(o: OptionSpec): string {
  const names = `${o.short ? `-${o.short}, ` : "    "}--${o.name}${o.value ? ` ${o.value}` : ""}`;
  const notes = [
    ...(o.required ? ["required"] : []),
    ...(o.default !== undefined && o.type !== "boolean" ? [`default ${String(o.default)}`] : []),
    ...(o.env ? [`or $${o.env}`] : []),
  ];
  return row(names, notes.length > 0 ? `${o.description} (${notes.join("; ")})` : o.description);
}

/** The help of the command, or of one of its subcommands. */
export function renderHelp(spec: CommandSpec, sub?: SubcommandSpec): string {
  const out: string[] = [];
  const usage = sub ? [sub.synopsis] : spec.synopsis;
  out.push(usage.map((line, i) => `${i === 0 ? "Usage: " : "       "}${spec.name} ${line}`).join("\n"), "");
  out.push(wrap(sub ? sub.summary : spec.summary, 0), "");
  if (!sub) out.push(wrap(spec.description, 0), "");
  if (!sub && spec.subcommands) {
    out.push("Commands:", ...spec.subcommands.map((s) => row(s.name, s.summary)), "");
  }
  const positionals = sub ? sub.positionals : (spec.positionals ?? []);
  if (positionals.length > 0) out.push("Arguments:", ...positionals.map((p) => row(p.name, p.description)), "");
  out.push("Options:", ...[...(sub ? sub.options : spec.options), ...COMMON_OPTIONS].map(optionRow), "");
  if (!sub && spec.remoteCommands) {
    out.push("Commands an SSH client may ask for (anything else is refused):", ...spec.remoteCommands.map((c) => row(c.command === "" ? "(none)" : c.command, c.description)), "");
  }
  if (!sub) {
    out.push("Exit status:", ...spec.exitCodes.map((name) => row(String(EXIT_CODES[name].code), EXIT_CODES[name].description, 8)), "");
    if (spec.aliases?.length) out.push(`Also installed as: ${spec.aliases.join(", ")}`, "");
  }
  return `${out.join("\n").trimEnd()}\n`;
}
