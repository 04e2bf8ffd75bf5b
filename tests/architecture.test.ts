/**
 * The layers of docs/architecture.md, checked over every import of every file in bin/ and lib/: the table of
 * which unit may import which (read from the document itself, so the two cannot drift), no cycle between units or
 * between files, backends reached only through their entry points, and the light signing path.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { importsOf, repositoryImports, unitCycles, unitGraph, unitOf, type ImportEdge } from "./support/imports.js";
import { REPO_ROOT } from "./support/repo.js";

interface LayerRow {
  readonly unit: string;
  readonly purpose: string;
  readonly mayImport: readonly string[];
}

/** The table under "## Layers" in docs/architecture.md: `| \`unit\` | purpose | \`a\`, \`b\` |`. */
function layerTable(): LayerRow[] {
  const doc = readFileSync(join(REPO_ROOT, "docs", "architecture.md"), "utf8");
  const section = doc.slice(doc.indexOf("\n## Layers"));
  const rows: LayerRow[] = [];
  for (const line of section.split("\n").slice(2)) {
    if (line.startsWith("## ")) break;
    const m = /^\| `([^`]+)` \| ([^|]*) \|([^|]*)\|$/.exec(line);
    if (!m) continue;
    rows.push({ unit: m[1]!, purpose: m[2]!.trim(), mayImport: [...m[3]!.matchAll(/`([^`]+)`/g)].map((x) => x[1]!) });
  }
  return rows;
}

const edges = repositoryImports(REPO_ROOT);

describe("docs/architecture.md layer table", () => {
  const table = layerTable();
  const allowed = new Map(table.map((r) => [r.unit, new Set(r.mayImport)]));

  it("lists every directory of lib/ (and bin/ and the files directly in lib/), each once, with its purpose", () => {
    const units = new Set<string>(["bin"]);
    for (const entry of readdirSync(join(REPO_ROOT, "lib"), { withFileTypes: true })) {
      if (entry.isDirectory()) units.add(`lib/${entry.name}`);
      else if (entry.name.endsWith(".ts")) units.add(`lib/${entry.name}`);
    }
    expect(table.map((r) => r.unit).sort()).toEqual([...units].sort());
    for (const r of table) {
      expect(r.purpose, r.unit).not.toBe("");
      for (const target of r.mayImport) expect(allowed.has(target), `${r.unit} may import ${target}, which is not in the table`).toBe(true);
    }
  });

  it("no import crosses a boundary the table forbids", () => {
    const crossing: string[] = [];
    for (const e of edges) {
      if (e.bare) continue;
      const from = unitOf(e.from);
      const to = unitOf(e.to);
      if (from !== to && !(allowed.get(from)?.has(to) ?? false)) crossing.push(`${e.from} -> ${e.to}`);
    }
    expect(crossing).toEqual([]);
  });

  it("every file the page names exists", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs", "architecture.md"), "utf8");
    const named = [...doc.matchAll(/`((?:lib|bin|tests|\.ci)\/[A-Za-z0-9_./-]+\.(?:ts|mjs))`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((f) => !existsSync(join(REPO_ROOT, f)))).toEqual([]);
  });

  it("the table itself has no cycle, so the layers have an order", () => {
    const graph = new Map(table.map((r) => [r.unit, new Map(r.mayImport.map((t) => [t, 1]))]));
    expect(unitCycles(graph)).toEqual([]);
  });
});

describe("import structure", () => {
  it("no cycle between units, and none between files", () => {
    expect(unitCycles(unitGraph(edges))).toEqual([]);
    const files = new Map<string, Map<string, number>>();
    for (const e of edges) {
      if (e.bare) continue;
      const row = files.get(e.from) ?? new Map<string, number>();
      row.set(e.to, 1);
      files.set(e.from, row);
    }
    expect(unitCycles(files)).toEqual([]);
  });

  it("above lib/backends, a backend is reached only through lib/backends/index.ts or a backend's index.ts", () => {
    const entries = new Set(["lib/backends/index.ts", "lib/backends/nethsm/index.ts", "lib/backends/pkcs11/index.ts"]);
    const leaks = edges.filter((e) => !e.bare && e.to.startsWith("lib/backends/") && !e.from.startsWith("lib/backends/") && !entries.has(e.to));
    expect(leaks.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it("the backends do not import each other, and the light entry loads each backend's signing key lazily", () => {
    const cross = edges.filter(
      (e) => !e.bare && ((e.from.startsWith("lib/backends/nethsm/") && e.to.startsWith("lib/backends/pkcs11/")) || (e.from.startsWith("lib/backends/pkcs11/") && e.to.startsWith("lib/backends/nethsm/"))),
    );
    expect(cross).toEqual([]);
    const entry = importsOf(REPO_ROOT, "lib/backends/index.ts").filter((e: ImportEdge) => !e.bare && /^lib\/backends\/(nethsm|pkcs11)\//.test(e.to));
    // Each backend's signing key, imported only dynamically (by openSigningKey and by openLogKey).
    expect(new Set(entry.map((e) => `${e.to} ${e.dynamic ? "dynamic" : "static"}`))).toEqual(
      new Set(["lib/backends/pkcs11/signing-key.ts dynamic", "lib/backends/nethsm/signing-key.ts dynamic"]),
    );
  });
});

/**
 * The server-side signing path must stay light: request, response, state codec and OpenPGP modules may import
 * only node: built-ins, @noble/hashes and each other (no CLI framework, no openpgp.js, no ssh2).
 */
describe("the signing path", () => {
  const roots = [
    "request.ts",
    "response.ts",
    "sha512-state.ts",
    "hsm-input.ts",
    "key-digest.ts",
    "openpgp/armor.ts",
    "openpgp/certificate.ts",
    "openpgp/fingerprint.ts",
    "openpgp/packet.ts",
    "openpgp/public-key.ts",
    "openpgp/signature.ts",
  ].map((f) => `lib/signing/${f}`);

  function closure(): { files: Set<string>; bare: Set<string> } {
    const files = new Set<string>();
    const bare = new Set<string>();
    const todo = [...roots];
    for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
      if (files.has(file)) continue;
      files.add(file);
      for (const e of importsOf(REPO_ROOT, file)) {
        if (e.bare) bare.add(e.to);
        else todo.push(e.to);
      }
    }
    return { files, bare };
  }

  it("imports only node built-ins and @noble/hashes", () => {
    const { files, bare } = closure();
    expect(files.size).toBeGreaterThanOrEqual(roots.length);
    const outside = [...bare].filter((s) => !s.startsWith("node:") && !s.startsWith("@noble/hashes/"));
    expect(outside).toEqual([]);
    expect([...bare].sort()).toContain("@noble/hashes/sha2.js");
    for (const f of files) expect(f.startsWith("lib/signing/") || f === "lib/errors.ts").toBe(true);
  });
});
