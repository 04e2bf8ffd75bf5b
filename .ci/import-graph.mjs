#!/usr/bin/env node
/**
 * Prints the import graph between directories of bin/ and lib/ (one `from -> to (n)` line per pair, n = number of
 * import statements, type-only and dynamic imports included) and the cycles between them.
 *
 * Usage: node .ci/import-graph.mjs [--src DIR] [--granularity top|dir]
 *   --src          checkout whose bin/ and lib/ are read (default: this repository), e.g. a `git worktree` of an
 *                  older commit, to compare before and after
 *   --granularity  top: lib/<dir> (the layers of docs/architecture.md, default); dir: every directory
 * Runs the compiled scanner (dist/tests/support/imports.js): `npm run build` first.
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { src: { type: "string" }, granularity: { type: "string", default: "top" } }, strict: true });
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const g = values.granularity;
if (g !== "top" && g !== "dir") throw new Error("--granularity must be top or dir");
const { repositoryImports, unitGraph, formatUnitGraph } = await import(pathToFileURL(join(repo, "dist", "tests", "support", "imports.js")).href);
process.stdout.write(formatUnitGraph(unitGraph(repositoryImports(resolve(values.src ?? repo)), g)));
