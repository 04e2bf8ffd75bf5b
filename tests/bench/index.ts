/**
 * Benchmark runner (`npm run bench`): imports every module next to this file that exports
 * `run(): Promise<void>` and runs them one after another. Optional arguments filter by module name,
 * e.g. `node dist/tests/bench/index.js hash`.
 */
import { readdirSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

interface BenchModule {
  run: () => Promise<void>;
}

function isBenchModule(m: unknown): m is BenchModule {
  return typeof m === "object" && m !== null && typeof (m as { run?: unknown }).run === "function";
}

async function main(): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const self = basename(fileURLToPath(import.meta.url));
  const ext = extname(self);
  const filters = process.argv.slice(2);
  const names = readdirSync(here)
    .filter((f) => f.endsWith(ext) && !f.endsWith(`.d${ext}`) && f !== self)
    .map((f) => basename(f, ext))
    .filter((n) => filters.length === 0 || filters.includes(n))
    .sort();
  if (names.length === 0) throw new Error(`no benchmark modules${filters.length > 0 ? ` matching ${filters.join(", ")}` : ""} in ${here}`);
  for (const name of names) {
    const mod: unknown = await import(pathToFileURL(join(here, `${name}${ext}`)).href);
    if (!isBenchModule(mod)) continue;
    console.log(`\n== bench: ${name} ==`);
    await mod.run();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
