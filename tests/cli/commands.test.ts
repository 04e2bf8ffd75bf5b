/**
 * Every executable goes through the shell with its own command table: package.json "bin", bin/ and the tables
 * agree; each built executable (dist/bin, `npm run build` first) answers --help and --version with exit 0; the
 * tables are complete and consistent (synopsis and options, exit codes from the one table, environment).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMON_OPTIONS, type CommandSpec } from "../../lib/cli/command.js";
import { COMMANDS } from "../../lib/cli/commands/index.js";
import { renderHelp } from "../../lib/cli/help.js";
import { EXIT_CODES, ExitCode } from "../../lib/errors.js";
import { REPO_ROOT } from "../support/repo.js";
import { run } from "../support/run.js";

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string; bin: Record<string, string> };
const byName = new Map<string, CommandSpec>();
for (const c of COMMANDS) for (const n of [c.name, ...(c.aliases ?? [])]) byName.set(n, c);

describe("command tables", () => {
  it("every executable of package.json and every file in bin/ has exactly one table, and every table an executable", () => {
    for (const [name, file] of Object.entries(pkg.bin)) {
      const spec = byName.get(name);
      expect(spec, name).toBeDefined();
      // signstar-download-signature is the C forwarder (lib/signer/native/forwarder.c), which runs <itself>.js when
      // no resident signer answers; every other executable is its Node entry.
      expect(file).toBe(spec!.name === "signstar-download-signature" ? "dist/bin/signstar-download-signature" : `dist/bin/${spec!.name}.js`);
    }
    const binFiles = readdirSync(join(REPO_ROOT, "bin")).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3)).sort();
    expect(COMMANDS.map((c) => c.name).sort()).toEqual(binFiles);
    expect(new Set(COMMANDS.map((c) => c.name)).size).toBe(COMMANDS.length);
    for (const c of COMMANDS) for (const n of [c.name, ...(c.aliases ?? [])]) expect(Object.keys(pkg.bin)).toContain(n);
  });

  it("lib/tools holds exactly one file per executable, named after it", () => {
    const tools = readdirSync(join(REPO_ROOT, "lib", "tools"), { withFileTypes: true }).map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
    expect(tools.sort()).toEqual(COMMANDS.map((c) => `${c.name.replace(/^signstar-/, "")}.ts`).sort());
  });

  for (const c of COMMANDS) {
    it(`${c.name}: complete for a man page, and its synopsis names exactly its options`, () => {
      expect(c.summary).not.toMatch(/\n/);
      expect(c.description.length).toBeGreaterThan(c.summary.length);
      expect(c.synopsis.length).toBeGreaterThan(0);
      expect(c.exitCodes).toContain("Ok");
      expect(c.exitCodes).toContain("Internal");
      expect(c.exitCodes).toContain("Usage");
      for (const code of c.exitCodes) expect(EXIT_CODES[code]).toBeDefined();
      expect(c.seeAlso.length).toBeGreaterThan(0);
      expect(c.examples.length).toBeGreaterThan(0);
      const options = [...c.options, ...(c.subcommands ?? []).flatMap((s) => s.options)];
      const inSynopsis = new Set([...c.synopsis.join(" ").matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!));
      expect([...new Set(options.map((o) => o.name))].sort()).toEqual([...inSynopsis].sort());
      for (const s of c.subcommands ?? []) {
        expect(c.synopsis.some((line) => line.includes(s.name))).toBe(true);
        for (const o of s.options) expect(s.synopsis).toContain(`--${o.name}`);
      }
      for (const o of options) {
        expect(COMMON_OPTIONS.some((x) => x.name === o.name || (o.short !== undefined && x.short === o.short)), `--${o.name} clashes with a common option`).toBe(false);
        if (o.env !== undefined) expect(c.environment.map((e) => e.name)).toContain(o.env);
      }
      if (c.remoteCommands) expect(c.kind).toBe("server");
      expect(renderHelp(c)).toMatch(new RegExp(`^Usage: ${c.name} `));
    });
  }

  it("the exit codes exist once, with a description each; interrupted is 130", () => {
    for (const [name, entry] of Object.entries(EXIT_CODES)) {
      expect(ExitCode[name as keyof typeof ExitCode]).toBe(entry.code);
      expect(entry.description).not.toBe("");
    }
    expect(ExitCode.Interrupted).toBe(130);
    expect(new Set(Object.values(ExitCode)).size).toBe(Object.keys(EXIT_CODES).length);
  });
});

describe("the built executables", () => {
  for (const [name, file] of Object.entries(pkg.bin)) {
    it(`${name} answers --help and --version with exit 0`, async () => {
      const path = join(REPO_ROOT, file);
      if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build first`);
      const spec = byName.get(name)!;
      // The forwarder is a native program that runs its Node implementation for --help and --version.
      const exec = (arg: string) => (file.endsWith(".js") ? run(process.execPath, [path, arg], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } }) : run(path, [arg], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } }));
      const help = await exec("--help");
      expect(help.stderr).toBe("");
      expect(help.code).toBe(0);
      expect(help.stdout).toBe(renderHelp(spec));
      const version = await exec("--version");
      expect(version).toEqual({ code: 0, stdout: `${spec.name} ${pkg.version}\n`, stderr: "" });
    });
  }
});
