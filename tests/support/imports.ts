/**
 * The import graph of the TypeScript sources in bin/ and lib/, read from the files themselves (static imports,
 * `export … from`, `import type`, side-effect imports and dynamic `import("…")`). Used by the layer test
 * (tests/architecture.test.ts) and by .ci/import-graph.mjs, which prints the directory graph.
 *
 * A file belongs to a unit: `bin` for bin/*, the file itself for files directly in lib/ (`lib/errors.ts`), and
 * for anything below lib/<dir>/ either `lib/<dir>` (granularity "top": the layers of docs/architecture.md) or its
 * own directory (granularity "dir": `lib/backends/nethsm`, `lib/signing/openpgp`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

export interface ImportEdge {
  /** Importing file, relative to the repository (`lib/tools/download-signature.ts`). */
  readonly from: string;
  /** Imported file (relative, `.ts`) for relative specifiers; the bare specifier (`node:fs`, `ssh2`) otherwise. */
  readonly to: string;
  readonly bare: boolean;
  /** `import type` / `export type`: erased at run time, but still a dependency of the code. */
  readonly typeOnly: boolean;
  readonly dynamic: boolean;
}

const STATIC = /(?:^|\n)[ \t]*(import|export)(\s+type)?\s[^;]*?\sfrom\s+"([^"]+)"/g;
const SIDE_EFFECT = /(?:^|\n)[ \t]*import\s+"([^"]+)"/g;
const DYNAMIC = /\bimport\(\s*"([^"]+)"\s*\)/g;

/** Every .ts file below `dir` (relative to `root`), sorted. */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(join(root, d), { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && entry.name !== "build") walk(path);
      } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path.split(sep).join("/"));
    }
  };
  walk(dir);
  return out.sort();
}

/** Comments are dropped first, so an example in a doc comment is not an import. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/[^\n]*/g, "$1");
}

export function importsOf(root: string, file: string): ImportEdge[] {
  const text = code(readFileSync(join(root, file), "utf8"));
  const edges: ImportEdge[] = [];
  const add = (spec: string, typeOnly: boolean, dynamic: boolean): void => {
    if (spec.startsWith(".")) {
      const target = relative(root, resolve(root, dirname(file), spec.replace(/\.js$/, ".ts"))).split(sep).join("/");
      edges.push({ from: file, to: target, bare: false, typeOnly, dynamic });
    } else edges.push({ from: file, to: spec, bare: true, typeOnly, dynamic });
  };
  for (const m of text.matchAll(STATIC)) add(m[3] ?? "", m[2] !== undefined, false);
  for (const m of text.matchAll(SIDE_EFFECT)) add(m[1] ?? "", false, false);
  for (const m of text.matchAll(DYNAMIC)) add(m[1] ?? "", false, true);
  return edges;
}

export type Granularity = "top" | "dir";

/** The unit a repository-relative file belongs to (see the module comment). */
export function unitOf(file: string, granularity: Granularity = "top"): string {
  const parts = file.split("/");
  if (parts[0] === "bin") return "bin";
  if (parts[0] === "lib") {
    if (parts.length === 2) return file;
    return granularity === "top" ? `lib/${parts[1] ?? ""}` : parts.slice(0, -1).join("/");
  }
  return parts[0] ?? file;
}

/** Every import of every file in bin/ and lib/. */
export function repositoryImports(root: string): ImportEdge[] {
  return [...sourceFiles(root, "bin"), ...sourceFiles(root, "lib")].flatMap((f) => importsOf(root, f));
}

/** `from -> to` between different units, with the number of import statements. */
export function unitGraph(edges: readonly ImportEdge[], granularity: Granularity = "top"): Map<string, Map<string, number>> {
  const graph = new Map<string, Map<string, number>>();
  for (const e of edges) {
    if (e.bare) continue;
    const a = unitOf(e.from, granularity);
    const b = unitOf(e.to, granularity);
    if (a === b) continue;
    const row = graph.get(a) ?? new Map<string, number>();
    row.set(b, (row.get(b) ?? 0) + 1);
    graph.set(a, row);
  }
  return graph;
}

/** Each cycle between units once, as the list of units along it (strongly connected components of size > 1). */
export function unitCycles(graph: ReadonlyMap<string, ReadonlyMap<string, number>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** The graph as text: one `from -> to (n)` line per pair, then the cycles. */
export function formatUnitGraph(graph: ReadonlyMap<string, ReadonlyMap<string, number>>): string {
  const lines: string[] = [];
  for (const from of [...graph.keys()].sort()) {
    const row = graph.get(from)!;
    for (const to of [...row.keys()].sort()) lines.push(`${from} -> ${to} (${row.get(to)})`);
  }
  const cycles = unitCycles(graph);
  lines.push(cycles.length === 0 ? "cycles: none" : "cycles:");
  for (const c of cycles) lines.push(`  ${c.join(" <-> ")}`);
  return `${lines.join("\n")}\n`;
}
