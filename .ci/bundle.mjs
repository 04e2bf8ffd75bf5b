#!/usr/bin/env node
/**
 * Build step after `tsc` (the last part of `npm run build`). sshd starts one process per request, so the
 * start-up of the server-side executables decides signing latency: each of them becomes one CommonJS bundle.
 *
 * dist/bin/ afterwards (package.json "bin" still points at dist/bin/<name>.js):
 * - <name>.js for every ForceCommand of lib/host/force-commands.ts (FORCE_COMMANDS): a CommonJS bundle of tsc's output
 *   for that executable. One file instead of some forty ES modules, and no ES module loader: Node 20 needs
 *   about 5 ms more to start an ES module entry than a CommonJS one. Dynamic imports stay lazy as chunks in
 *   chunks/ (e.g. pkcs11js and the NetHSM HTTPS client load only for the backend a mapping uses).
 * - <name>.js for every other executable (admin tools, the client): a two-line CommonJS launcher that imports
 *   tsc's ES module, renamed to <name>.mjs next to it, unchanged (not bundled: start-up does not matter there).
 * - package.json without "type", so that Node runs these .js files as CommonJS instead of the repository's
 *   "type": "module". If tsc alone rewrites dist/bin/*.js later, Node still runs them as ES modules (module
 *   syntax detection, with a warning) until the next `npm run build`.
 *
 * What is bundled is tsc's JavaScript, so the bundles run exactly the type-checked code; the TypeScript sources
 * do not change. Packages with native addons stay external (pkcs11js, ssh2, cpu-features) and load from
 * node_modules. A bundled module must not use import.meta (it would then refer to the bundle's location
 * instead of its own file), except the entry itself, which keeps its directory: such a module fails the build.
 * Bundler warnings that could change behaviour fail the build as well.
 *
 * Usage: node .ci/bundle.mjs [--dist DIR]   (default: dist/ of this repository)
 */
import { chmod, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { rolldown } from "rolldown";

const { values } = parseArgs({ options: { dist: { type: "string" } }, strict: true, allowPositionals: false });
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = resolve(values.dist ?? join(root, "dist"));
const binDir = join(dist, "bin");
const chunksDir = join(binDir, "chunks");
const SHEBANG = "#!/usr/bin/env node\n";
const MARKER = "// Built by .ci/bundle.mjs from tsc's output; see there.\n";

/** Packages that carry a compiled addon (.node): never bundled. */
const NATIVE_PACKAGES = ["pkcs11js", "ssh2", "cpu-features"];
const isNativePackage = (id) => NATIVE_PACKAGES.some((p) => id === p || id.startsWith(`${p}/`));

/** Bundler warnings that mean the bundle could behave differently from the modules. */
const FATAL = new Set([
  "UNRESOLVED_IMPORT",
  "MISSING_EXPORT",
  "IMPORT_IS_UNDEFINED",
  "EMPTY_IMPORT_META",
  "EVAL",
  "UNRESOLVED_ENTRY",
  "SHIMMED_EXPORT",
  "COMMONJS_VARIABLE_IN_ESM",
  "CIRCULAR_REEXPORT",
]);

async function serverExecutables() {
  const layout = await import(pathToFileURL(join(dist, "lib", "host", "force-commands.js")).href);
  return new Set(Object.values(layout.FORCE_COMMANDS).filter((n) => typeof n === "string"));
}

function importMetaGuard(entry) {
  return {
    name: "signstar-import-meta-guard",
    transform: {
      filter: { code: "import.meta" },
      handler(code, id) {
        // "\0…" ids are the bundler's own runtime helpers.
        if (!id.startsWith("\0") && resolve(id) !== entry && /\bimport\.meta\b/.test(code)) {
          this.error(`${id} uses import.meta; bundled into ${entry} it would refer to the bundle's location`);
        }
        return null;
      },
    },
  };
}

async function bundle(name) {
  const entry = join(binDir, `${name}.js`);
  const problems = [];
  const build = await rolldown({
    input: { [name]: entry },
    platform: "node",
    external: (id) => isNativePackage(id),
    plugins: [importMetaGuard(entry)],
    onLog(level, log) {
      if (level !== "warn") return;
      const text = `${log.code ?? "WARN"}: ${log.message.replace(/\x1b\[[0-9;]*m/g, "")}`;
      if (FATAL.has(log.code)) problems.push(text);
      else console.warn(`bundle ${name}: ${text}`);
    },
  });
  try {
    await build.write({
      dir: binDir,
      format: "cjs",
      strict: true, // the modules are ES modules, i.e. strict code; keep them so
      entryFileNames: "[name].js",
      chunkFileNames: "chunks/[name]-[hash].js",
      comments: { legal: true, annotation: false, jsdoc: false }, // keep the packages' licence notices
      sourcemap: false,
    });
  } finally {
    await build.close();
  }
  if (problems.length > 0) throw new Error(`bundling ${name}:\n  ${problems.join("\n  ")}`);
  const code = await readFile(entry, "utf8");
  if (!code.startsWith(SHEBANG)) throw new Error(`${entry}: the bundle lost its shebang`);
  await writeFile(entry, SHEBANG + MARKER + code.slice(SHEBANG.length), { mode: 0o755 });
}

async function launcher(name) {
  const entry = join(binDir, `${name}.js`);
  await rename(entry, join(binDir, `${name}.mjs`));
  const text = `${SHEBANG}${MARKER}// ${name} is not a server-side executable: it runs tsc's ES module unbundled.\nimport("./${name}.mjs");\n`;
  await writeFile(entry, text, { mode: 0o755 });
}

const server = await serverExecutables();
const names = (await readdir(binDir)).filter((f) => f.endsWith(".js")).map((f) => f.slice(0, -3)).sort();
for (const name of names) {
  const text = await readFile(join(binDir, `${name}.js`), "utf8");
  if (!text.startsWith(SHEBANG)) throw new Error(`dist/bin/${name}.js does not start with a node shebang`);
  if (text.includes(MARKER)) throw new Error(`dist/bin/${name}.js is already built; run tsc first (npm run build)`);
}
// Leftovers of the previous build (tsc rewrote the .js files, not these).
await rm(join(binDir, "package.json"), { force: true });
await rm(chunksDir, { recursive: true, force: true });
for (const f of await readdir(binDir)) if (f.endsWith(".mjs")) await rm(join(binDir, f));
// Typeless from here on: a build that fails half-way leaves executables that still run (see the header).
await writeFile(
  join(binDir, "package.json"),
  `${JSON.stringify({ description: "CommonJS executables built by .ci/bundle.mjs; no \"type\" on purpose" }, null, 2)}\n`,
);
const bundled = names.filter((n) => server.has(n));
for (const name of bundled) await bundle(name);
for (const name of names.filter((n) => !server.has(n))) await launcher(name);
const missing = [...server].filter((n) => !names.includes(n));
if (missing.length > 0) console.warn(`bundle: ForceCommands without an executable in bin/: ${missing.join(", ")}`);
for (const f of await readdir(binDir)) if (f.endsWith(".js")) await chmod(join(binDir, f), 0o755);
console.log(`bundle: ${bundled.length} server executables bundled (${bundled.join(", ")}); ${names.length - bundled.length} launchers`);
