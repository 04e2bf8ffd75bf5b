/**
 * Man pages and bash completions are rendered from the command tables: every executable of package.json has a
 * page that man(1) renders without a warning, whose OPTIONS and EXIT STATUS are exactly the table's, with the
 * sections an operator looks for; SEE ALSO names Signstar pages in their real sections; the completion scripts
 * offer exactly the table's subcommands and options when bash runs them.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMON_OPTIONS, type CommandSpec } from "../../lib/cli/command.js";
import { COMMANDS } from "../../lib/cli/commands/index.js";
import { completionFunction, hasCompletion, renderBashCompletion } from "../../lib/cli/completion.js";
import { CONFIG_PAGE, manSection, renderConfigManPage, renderManPage, renderMarkdownManPage, roffText } from "../../lib/cli/man.js";
import { allOptions } from "../../lib/cli/parse.js";
import { EXIT_CODES } from "../../lib/errors.js";
import { REPO_ROOT } from "../support/repo.js";
import { run } from "../support/run.js";

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
const META = { version: "9.8.7", date: "2026-01-02" };
const SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-man-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The page rendered by man(1) as plain text, and what man and groff warned about. */
async function man(spec: CommandSpec): Promise<{ text: string; warnings: string }> {
  return manText(`${spec.name}.${manSection(spec)}`, renderManPage(spec, META));
}

async function manText(name: string, roff: string): Promise<{ text: string; warnings: string }> {
  const file = join(dir, name);
  await writeFile(file, roff);
  const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", MANWIDTH: "80", LANG: "C.UTF-8", MAN_KEEP_FORMATTING: "" };
  const r = await run("man", ["--warnings", "-l", file], { env: { ...env, MANPAGER: "cat", PAGER: "cat" } });
  expect(r.code, r.stderr).toBe(0);
  // Without a terminal man prints plain text; col -b removes any remaining overstrike.
  const plain = await run("col", ["-b"], { input: r.stdout });
  return { text: plain.stdout, warnings: r.stderr };
}

/** The lines of one section (between its heading and the next heading). */
function section(text: string, name: string): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l === name);
  expect(start, `section ${name}`).toBeGreaterThan(-1);
  const end = lines.findIndex((l, i) => i > start && /^[A-Z][A-Z ]+$/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

describe("man pages", () => {
  it("every executable of package.json (aliases too) has a page, and the Signstar pages SEE ALSO names exist in that section", () => {
    const pages = new Map<string, number>();
    for (const c of COMMANDS) for (const n of [c.name, ...(c.aliases ?? [])]) pages.set(n, manSection(c));
    for (const name of Object.keys(pkg.bin)) expect(pages.has(name), name).toBe(true);
    pages.set(CONFIG_PAGE.name, CONFIG_PAGE.section);
    for (const c of COMMANDS) {
      for (const ref of c.seeAlso) {
        const m = /^(signstar[a-z.-]*)\((\d)\)$/.exec(ref);
        if (m) expect(`${m[1]}(${pages.get(m[1]!)})`, `${c.name}: SEE ALSO ${ref}`).toBe(ref);
      }
    }
  });

  for (const c of COMMANDS) {
    it(`${c.name}(${manSection(c)}) renders without warnings; its options and exit codes are the table's`, async () => {
      const { text, warnings } = await man(c);
      expect(warnings).toBe("");
      for (const s of SECTIONS) expect(text.split("\n")).toContain(s);
      const title = `${c.name.toUpperCase()}(${manSection(c)})`;
      expect(text.split("\n")[0]!.split(/\s+/).filter((w) => w !== "")).toEqual(c.name.length > 30 ? [title, title] : [title, "Signstar", title]);
      expect(section(text, "NAME").replace(/\s+/g, " ").trim()).toBe(`${[c.name, ...(c.aliases ?? [])].join(", ")} - ${c.summary}`);

      const optionHeads = section(text, "OPTIONS")
        .split("\n")
        .filter((l) => /^ {7}-/.test(l))
        .flatMap((l) => [...l.trim().matchAll(/(?:^|, )(--?[a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
      const expected = [...allOptions(c), ...COMMON_OPTIONS].flatMap((o) => [...(o.short ? [`-${o.short}`] : []), `--${o.name}`]);
      expect(optionHeads).toEqual(expected);

      const codes = section(text, "EXIT STATUS")
        .split("\n")
        .map((l) => /^ {7}(\d+)\s/.exec(l)?.[1])
        .filter((x) => x !== undefined);
      expect(codes).toEqual(c.exitCodes.map((n) => String(EXIT_CODES[n].code)));
      const files = section(text, "FILES").replace(/\s+/g, "");
      for (const f of c.files) expect(files).toContain(f.path.replace(/\s+/g, ""));
      for (const e of c.environment) expect(section(text, "ENVIRONMENT")).toContain(e.name);
      for (const e of c.examples) expect(section(text, "EXAMPLES")).toContain(e.command);
      for (const ref of c.seeAlso) expect(section(text, "SEE ALSO").replace(/\s+/g, "")).toContain(ref);
    });
  }

  it("escapes what roff would misread: backslashes, hyphens, a leading dot", async () => {
    expect(roffText("a\\b-c")).toBe("a\\eb\\-c");
    const tricky: CommandSpec = {
      ...COMMANDS[0]!,
      name: "signstar-tricky",
      description: "a\\b .c 'd",
      examples: [{ command: ".hidden --x", description: "a dot first" }],
    };
    const page = renderManPage(tricky, META);
    expect(page).toContain("\\&.hidden \\-\\-x");
    const { text, warnings } = await man(tricky);
    expect(warnings).toBe("");
    expect(text).toContain("a\\b .c 'd");
    expect(section(text, "EXAMPLES")).toContain(".hidden --x");
  });
});

describe("the configuration page", () => {
  it(`${CONFIG_PAGE.name}(${CONFIG_PAGE.section}) is ${CONFIG_PAGE.source}: every heading, table row and paragraph, rendered without warnings`, async () => {
    const markdown = readFileSync(join(REPO_ROOT, CONFIG_PAGE.source), "utf8");
    const { text, warnings } = await manText(`${CONFIG_PAGE.name}.${CONFIG_PAGE.section}`, renderConfigManPage(markdown, META));
    expect(warnings).toBe("");
    for (const s of ["NAME", "DESCRIPTION", "FILES", "SEE ALSO"]) expect(text.split("\n")).toContain(s);
    const flat = text.replace(/\s+/g, " ");
    const plain = (md: string): string => md.replace(/\\\|/g, "|").replace(/`|\*\*/g, "").replace(/\[([^\]]+)\]\([^)]+\)/g, "$1").replace(/\s+/g, " ").trim();
    const lines = markdown.split("\n");
    lines.forEach((l, i) => {
      const header = /^\|[-|: ]+$/.test(lines[i + 1] ?? "");
      if (/^## /.test(l)) expect(text.split("\n")).toContain(`   ${plain(l.slice(3))}`);
      else if (/^\|/.test(l) && !/^\|[-|: ]+$/.test(l) && !header) expect(flat).toContain(plain(l.slice(1).split(/(?<!\\)\|/)[0]!));
    });
    for (const paragraph of markdown.split(/\n\s*\n/).filter((p) => /^([A-Za-z]|`[^`])/.test(p))) expect(flat).toContain(plain(paragraph));
  });

  it("refuses Markdown it cannot show rather than dropping it", () => {
    const page = { ...CONFIG_PAGE, files: [], seeAlso: [] };
    expect(() => renderMarkdownManPage("# T\n\n- a list item\n", page, META)).toThrow(/cannot render/);
    expect(() => renderMarkdownManPage("# T\n\n### deeper\n", page, META)).toThrow(/cannot render/);
    expect(() => renderMarkdownManPage("| a | b |\n| c | d |\n", page, META)).toThrow(/separator/);
  });
});

/** What bash's completion offers for a command line (the last word is being completed). */
async function complete(spec: CommandSpec, words: readonly string[]): Promise<string[]> {
  const script = join(dir, `${spec.name}.bash`);
  await writeFile(script, renderBashCompletion(spec));
  const quoted = words.map((w) => `'${w}'`).join(" ");
  const r = await run("bash", [
    "--norc",
    "-c",
    `source '${script}'; cd /; COMP_WORDS=(${quoted}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); ${completionFunction(spec)}; printf '%s\\n' "\${COMPREPLY[@]}"`,
  ]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.split("\n").filter((l) => l !== "");
}

describe("bash completions", () => {
  const common = COMMON_OPTIONS.flatMap((o) => [`--${o.name}`]);
  const interactive = COMMANDS.filter(hasCompletion);

  it("exist for the tools people type: the client, config, configure, configure-build and admin", () => {
    expect(interactive.map((c) => c.name)).toEqual(
      expect.arrayContaining(["signstar-admin", "signstar-config", "signstar-configure", "signstar-configure-build", "signstar-request-signature"]),
    );
    expect(interactive.filter((c) => c.kind === "server")).toEqual([]);
  });

  for (const c of interactive) {
    it(`${c.name}: bash offers the table's subcommands and options`, async () => {
      const script = join(dir, `${c.name}.registered.bash`);
      await writeFile(script, renderBashCompletion(c));
      const registered = await run("bash", ["--norc", "-c", `source '${script}'; complete -p ${[c.name, ...(c.aliases ?? [])].join(" ")}`]);
      expect(registered.stdout).toContain(`-F ${completionFunction(c)} ${c.name}`);
      if (c.subcommands) {
        expect(await complete(c, [c.name, ""])).toEqual(c.subcommands.map((s) => s.name));
        for (const s of c.subcommands) {
          expect(await complete(c, [c.name, s.name, "--"])).toEqual([...s.options.map((o) => `--${o.name}`), ...common]);
        }
      } else {
        expect(await complete(c, [c.name, "--"])).toEqual([...c.options.map((o) => `--${o.name}`), ...common]);
      }
      const dirOption = allOptions(c).find((o) => o.value === "DIR");
      if (dirOption) {
        const sub = c.subcommands?.find((s) => s.options.includes(dirOption));
        expect(await complete(c, [c.name, ...(sub ? [sub.name] : []), `--${dirOption.name}`, "/us"])).toEqual(["/usr"]);
      }
    });
  }
});
