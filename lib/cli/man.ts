/**
 * Man pages (roff, man(7) macros) rendered from the command tables, the same data --help is rendered from
 * (./help.ts), so a page cannot drift from the executable: NAME, SYNOPSIS, DESCRIPTION, COMMANDS, OPTIONS,
 * SSH COMMANDS, EXIT STATUS (from EXIT_CODES), FILES, ENVIRONMENT, EXAMPLES, SEE ALSO. Only the classic macros
 * (.TH .SH .TP .PP .RS .RE .nf .fi) and font escapes are used, which man-db/groff and mandoc both render.
 * The packaging script (.ci/package.mjs) writes one page per executable; tests/cli/man.test.ts renders each with
 * `man --warnings` and compares its options with the table.
 */
import { DEFAULT_CONFIG_PATHS } from "../config/load.js";
import { EXIT_CODES } from "../errors.js";
import { COMMON_OPTIONS, type CommandSpec, type OptionSpec } from "./command.js";
import { allOptions } from "./parse.js";

/** The page of the configuration format, rendered from docs/configuration.md (renderConfigManPage). */
export const CONFIG_PAGE = {
  name: "signstar.toml",
  section: 5,
  source: "docs/configuration.md",
  summary: "the Signstar configuration file",
  files: DEFAULT_CONFIG_PATHS.map((path) => ({ path, description: "the configuration, searched in this order" })),
  seeAlso: ["signstar-config(1)", "signstar-configure-build(8)", "signstar-configure(8)"],
} as const;

export interface ManPageMeta {
  /** The package version, shown in the footer. */
  readonly version: string;
  /** The date in the footer, YYYY-MM-DD (the source's date, so that builds are reproducible). */
  readonly date: string;
}

const MANUAL = "Signstar";

/** The section of a command's page. */
export function manSection(spec: CommandSpec): 1 | 8 {
  return spec.section ?? 1;
}

/**
 * Text for a roff text line or macro argument: backslashes and hyphens escaped (`\-` is the ASCII hyphen-minus
 * that options and commands need to be copied from a terminal; a bare `-` may render as a typographic hyphen).
 */
export function roffText(text: string): string {
  return text.replace(/\\/g, "\\e").replace(/-/g, "\\-");
}

/** A text line: a leading `.` or `'` would be read as a request, `\&` keeps it text. */
function line(text: string): string {
  const escaped = roffText(text);
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

const bold = (text: string): string => `\\fB${roffText(text)}\\fR`;
const italic = (text: string): string => `\\fI${roffText(text)}\\fR`;

/** A .TH/.SH argument in double quotes (a `"` cannot appear inside; none of ours has one). */
function quoted(text: string): string {
  return `"${roffText(text.replace(/"/g, "'"))}"`;
}

/** Synopsis text: option names bold, metavariables (FILE, DIR, N) italic. */
function synopsisText(text: string): string {
  return text
    .split(/(\s+)/)
    .map((word) => {
      if (/^\s+$/.test(word) || word === "") return word;
      const m = /^([[(|]*)(--?[a-z][a-z0-9-]*|[a-z][a-z-]*(?:\|[a-z][a-z-]*)*|[A-Z][A-Z0-9_.]*|[^[\]()|]+)([\])|]*)$/.exec(word);
      if (!m) return roffText(word);
      const [, open = "", core = "", close = ""] = m;
      const styled = /^-/.test(core) || /^[a-z]/.test(core) ? bold(core) : /^[A-Z]/.test(core) ? italic(core) : roffText(core);
      return `${roffText(open)}${styled}${roffText(close)}`;
    })
    .join("");
}

function optionHead(o: OptionSpec): string {
  const names = [...(o.short ? [bold(`-${o.short}`)] : []), bold(`--${o.name}`)].join(", ");
  return o.value ? `${names} ${italic(o.value)}` : names;
}

function optionBody(spec: CommandSpec, o: OptionSpec): string {
  const notes = [
    ...(o.required ? ["required"] : []),
    ...(o.default !== undefined && o.type !== "boolean" ? [`default ${String(o.default)}`] : []),
    ...(o.env ? [`or the environment variable ${o.env}`] : []),
    ...(o.conflicts?.length ? [`not with ${o.conflicts.map((c) => `--${c}`).join(", ")}`] : []),
  ];
  const subs = (spec.subcommands ?? []).filter((s) => s.options.some((x) => x.name === o.name)).map((s) => s.name);
  if (spec.subcommands && !spec.options.some((x) => x.name === o.name) && subs.length > 0) notes.push(`${subs.join(", ")}`);
  else if (spec.subcommands && subs.length > 0 && subs.length < spec.subcommands.length) notes.push(`${subs.join(", ")}`);
  const text = `${o.description.charAt(0).toUpperCase()}${o.description.slice(1)}${notes.length > 0 ? ` (${notes.join("; ")})` : ""}.`;
  return line(text);
}

/** `name(section)` references, bold name, as SEE ALSO lists them. */
function reference(ref: string): string {
  const m = /^(.+)\((\d[a-z]*)\)$/.exec(ref);
  return m ? `${bold(m[1]!)}(${m[2]})` : bold(ref);
}

/** The page of one executable. */
export function renderManPage(spec: CommandSpec, meta: ManPageMeta): string {
  const out: string[] = [];
  const section = manSection(spec);
  out.push(`.\\" Generated from lib/cli/commands/${spec.name}.ts by lib/cli/man.ts; do not edit.`);
  // The header repeats NAME(S) left and right with the manual's name between; at 80 columns a long name leaves
  // no room for it (groff would print them over each other), so such pages leave the middle blank.
  const manual = 2 * (spec.name.length + 4) + MANUAL.length + 4 <= 80 ? MANUAL : " ";
  out.push(`.TH ${spec.name.toUpperCase().replace(/-/g, "\\-")} ${section} ${meta.date} ${quoted(`signstar ${meta.version}`)} "${manual}"`);
  // Left-adjusted and unhyphenated: paths, options and commands must stay whole to be copied from a terminal.
  out.push(".ad l", ".nh");
  out.push(".SH NAME", line(`${[spec.name, ...(spec.aliases ?? [])].join(", ")} - ${spec.summary}`));

  out.push(".SH SYNOPSIS");
  spec.synopsis.forEach((s, i) => {
    if (i > 0) out.push(".br");
    out.push(`${bold(spec.name)} ${synopsisText(s)}`);
  });
  out.push(".br", `${bold(spec.name)} ${synopsisText("--help | --version")}`);

  out.push(".SH DESCRIPTION", line(spec.description));
  if (spec.aliases?.length) out.push(".PP", line(`Also installed as ${spec.aliases.join(", ")}.`));

  if (spec.subcommands?.length) {
    out.push(".SH COMMANDS");
    for (const s of spec.subcommands) {
      out.push(".TP", `${bold(spec.name)} ${synopsisText(s.synopsis)}`, line(`${s.summary.charAt(0).toUpperCase()}${s.summary.slice(1)}.`));
      for (const p of s.positionals) out.push(".RS", ".TP", italic(p.name), line(p.description), ".RE");
    }
  }

  const positionals = spec.positionals ?? [];
  if (positionals.length > 0) {
    out.push(".SH ARGUMENTS");
    for (const p of positionals) out.push(".TP", italic(p.name), line(p.description));
  }

  out.push(".SH OPTIONS");
  for (const o of [...allOptions(spec), ...COMMON_OPTIONS]) out.push(".TP", optionHead(o), optionBody(spec, o));

  if (spec.remoteCommands?.length) {
    out.push(".SH SSH COMMANDS", line("What the SSH client may ask for (SSH_ORIGINAL_COMMAND); anything else is refused."));
    for (const c of spec.remoteCommands) out.push(".TP", c.command === "" ? italic("(none)") : synopsisText(c.command), line(c.description));
  }

  out.push(".SH EXIT STATUS");
  for (const name of spec.exitCodes) out.push(".TP", bold(String(EXIT_CODES[name].code)), line(EXIT_CODES[name].description));

  if (spec.files.length > 0) {
    out.push(".SH FILES");
    // `\:` after each slash: a break point, so that a path longer than the line can wrap.
    for (const f of spec.files) out.push(".TP", italic(f.path).replace(/\//g, "/\\:"), line(f.description));
  }
  if (spec.environment.length > 0) {
    out.push(".SH ENVIRONMENT");
    for (const e of spec.environment) out.push(".TP", bold(e.name), line(e.description));
  }
  if (spec.examples.length > 0) {
    out.push(".SH EXAMPLES");
    for (const e of spec.examples) {
      out.push(".PP", line(`${e.description.charAt(0).toUpperCase()}${e.description.slice(1)}:`), ".RS", ".nf", line(e.command), ".fi", ".RE");
    }
  }

  const refs = [...spec.seeAlso];
  const readsConfig = allOptions(spec).some((o) => o.name === "config");
  const configRef = `${CONFIG_PAGE.name}(${CONFIG_PAGE.section})`;
  if (readsConfig && !refs.includes(configRef)) refs.push(configRef);
  out.push(".SH SEE ALSO", refs.map((r, i) => `${reference(r)}${i < refs.length - 1 ? "," : ""}`).join("\n"));
  return `${out.join("\n")}\n`;
}

/** Inline Markdown as roff: `code` and **bold** bold, [text](link) as its text, `\|` a pipe. */
function inline(text: string): string {
  const parts = text.replace(/\\\|/g, "|").split(/(`[^`]*`|\*\*[^*]+\*\*)/);
  return parts
    .map((p) => {
      if (p.startsWith("`") && p.endsWith("`") && p.length >= 2) return bold(p.slice(1, -1));
      if (p.startsWith("**") && p.endsWith("**")) return bold(p.slice(2, -2));
      return roffText(p.replace(/\[([^\]]+)\]\([^)]+\)/g, "$1"));
    })
    .join("");
}

/** A roff text line from inline Markdown (a leading `.` or `'` kept as text). */
function inlineLine(text: string): string {
  const out = inline(text);
  return /^[.']/.test(out) ? `\\&${out}` : out;
}

/** The cells of a Markdown table row (`| a | b \| c |`). */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, "")
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

export interface MarkdownPage {
  readonly name: string;
  readonly section: number;
  /** One line for NAME. */
  readonly summary: string;
  readonly files: readonly { readonly path: string; readonly description: string }[];
  readonly seeAlso: readonly string[];
}

/**
 * A man page from a Markdown document of docs/ (the one source of its text): the `#` title is dropped, the text
 * before the first `##` is DESCRIPTION, each `##` a subsection of it; paragraphs, fenced code, and tables (a row
 * per .TP: the first cell as the tag, the other cells under their column names). Anything else (lists, deeper
 * headings, HTML) is refused, so a change to the document that this page could not show fails the build.
 */
export function renderMarkdownManPage(markdown: string, page: MarkdownPage, meta: ManPageMeta): string {
  const out: string[] = [];
  out.push(`.\\" Generated from docs/ Markdown by lib/cli/man.ts; do not edit.`);
  out.push(`.TH ${page.name.toUpperCase().replace(/-/g, "\\-")} ${page.section} ${meta.date} ${quoted(`signstar ${meta.version}`)} "${MANUAL}"`);
  out.push(".ad l", ".nh", ".SH NAME", line(`${page.name} - ${page.summary}`), ".SH DESCRIPTION");
  const lines = markdown.replace(/\r\n/g, "\n").split("\n");
  let i = 0;
  let paragraph: string[] = [];
  const flush = (): void => {
    if (paragraph.length > 0) out.push(".PP", inlineLine(paragraph.join(" ")));
    paragraph = [];
  };
  while (i < lines.length) {
    const l = lines[i]!;
    if (/^# /.test(l)) {
      i++;
    } else if (/^## /.test(l)) {
      flush();
      out.push(`.SS ${quoted(l.slice(3).replace(/`/g, ""))}`);
      i++;
    } else if (/^```/.test(l)) {
      flush();
      out.push(".PP", ".RS", ".nf");
      for (i++; i < lines.length && !/^```/.test(lines[i]!); i++) out.push(line(lines[i]!));
      out.push(".fi", ".RE");
      i++;
    } else if (/^\|/.test(l)) {
      flush();
      const head = cells(l);
      if (!/^\|[-|: ]+\|?$/.test(lines[i + 1] ?? "")) throw new Error(`markdown man page: table without a separator row: ${l}`);
      for (i += 2; i < lines.length && /^\|/.test(lines[i]!); i++) {
        const row = cells(lines[i]!);
        out.push(".TP", inlineLine(row[0] ?? ""));
        if (head.length === 2) out.push(inlineLine(row[1] ?? ""));
        else row.slice(1).forEach((c, k) => out.push(...(k > 0 ? [".br"] : []), inlineLine(`${head[k + 1]}: ${c}`)));
      }
    } else if (l.trim() === "") {
      flush();
      i++;
    } else if (/^(#{3,} |[-*+] |\d+\. |<)/.test(l)) {
      throw new Error(`markdown man page: cannot render "${l.slice(0, 60)}" (lists, deeper headings and HTML are not supported)`);
    } else {
      paragraph.push(l.trim());
      i++;
    }
  }
  flush();
  if (page.files.length > 0) {
    out.push(".SH FILES");
    for (const f of page.files) out.push(".TP", italic(f.path).replace(/\//g, "/\\:"), line(f.description));
  }
  out.push(".SH SEE ALSO", page.seeAlso.map((r, k) => `${reference(r)}${k < page.seeAlso.length - 1 ? "," : ""}`).join("\n"));
  return `${out.join("\n")}\n`;
}

/** signstar.toml(5) from the text of docs/configuration.md. */
export function renderConfigManPage(markdown: string, meta: ManPageMeta): string {
  return renderMarkdownManPage(markdown, CONFIG_PAGE, meta);
}
