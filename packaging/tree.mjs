#!/usr/bin/env node
/**
 * Installs Signstar below DEST as a distribution package lays it out on a host (the Debian package,
 * packaging/debian/build-deb.mjs, and the Arch package, packaging/arch/PKGBUILD, both call this, so their trees
 * cannot drift apart). Runs after `npm run build` and reuses what it made; nothing is compiled here.
 *
 *   usr/lib/signstar/package.json            name, version, "type": "module" (the library is ES modules)
 *   usr/lib/signstar/dist/bin/               every built executable as .ci/bundle.mjs left it (bundles, launchers,
 *                                            chunks, native programs)
 *   usr/lib/signstar/dist/lib/               tsc's JavaScript of lib/ (no TypeScript, no tests) and the native
 *                                            SHA-512 addon where lib/signing/native-sha512.ts looks for it
 *   usr/lib/signstar/node_modules/           the production dependencies of package-lock.json (no dev ones),
 *                                            their native addons as `npm ci` built them for this machine
 *   usr/bin/<name>                           a relative symbolic link per package.json "bin" entry
 *   usr/lib/systemd/system/                  every unit in systemd/
 *   usr/lib/tmpfiles.d/signstar.conf         the host-wide state directories (lib/host/plan.ts hostWideFiles)
 *   usr/share/man/man{1,5,8}/                a page per executable (lib/cli/man.ts) and the configuration page
 *   usr/share/bash-completion/completions/   the interactive tools' completions (lib/cli/completion.ts)
 *   usr/share/doc/signstar/examples/         the example configurations, the sshd hardening drop-in (what
 *                                            signstar-configure-build installs; not active until then), the
 *                                            p11-kit unit's environment file
 *
 * Nothing goes to /etc: the package activates nothing by itself (see docs/packaging.md).
 *
 * Usage: node packaging/tree.mjs --dest DIR [--date YYYY-MM-DD]
 * Prints the executables' names, one a line.
 */
import { execFileSync } from "node:child_process";
import { chmod, copyFile, cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const LIBDIR = "usr/lib/signstar";

const { values } = parseArgs({ options: { dest: { type: "string" }, date: { type: "string" } }, strict: true, allowPositionals: false });
if (!values.dest) throw new Error("usage: node packaging/tree.mjs --dest DIR [--date YYYY-MM-DD]");
const dest = resolve(values.dest);
const dist = join(REPO, "dist");
if (!existsSync(join(dist, "bin")) || !existsSync(join(dist, "lib"))) throw new Error(`${dist} is not built: run npm run build first`);

const importDist = (path) => import(pathToFileURL(join(dist, path)).href);
const { COMMANDS } = await importDist("lib/cli/commands/index.js");
const { renderManPage, manSection, renderConfigManPage, CONFIG_PAGE } = await importDist("lib/cli/man.js");
const { renderBashCompletion, hasCompletion } = await importDist("lib/cli/completion.js");
const { hostWideFiles } = await importDist("lib/host/plan.js");
const { hostLayout } = await importDist("lib/layout/host-layout.js");

const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8"));
const lock = JSON.parse(await readFile(join(REPO, "package-lock.json"), "utf8"));

/** The source's date, so that a rebuild of the same commit gives the same pages. */
function sourceDate() {
  if (values.date) return values.date;
  if (process.env.SOURCE_DATE_EPOCH) return new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString().slice(0, 10);
  try {
    return execFileSync("git", ["-C", REPO, "log", "-1", "--format=%cs"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}
const date = sourceDate();

async function write(path, content, mode = 0o644) {
  const full = join(dest, path);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, content, { mode });
  await chmod(full, mode);
}

async function link(path, target) {
  const full = join(dest, path);
  await mkdir(dirname(full), { recursive: true });
  await rm(full, { force: true });
  await symlink(target, full);
}

/** Copies a tree, keeping only the files `keep(relativePath)` accepts. */
async function copyTree(from, to, keep) {
  await cp(from, to, {
    recursive: true,
    dereference: false,
    filter: async (src) => {
      const rel = relative(from, src);
      if (rel === "") return true;
      if ((await stat(src)).isDirectory()) return keep(rel, true);
      return keep(rel, false);
    },
  });
}

/** Built addons below `dir`: `build/Release/*.node`, not node-gyp's intermediate copies in obj.target/. */
async function nativeAddons(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath ?? e.path, e.name);
    if (e.isFile() && e.name.endsWith(".node") && p.endsWith(`/build/Release/${e.name}`)) out.push(p);
  }
  return out.sort();
}

const isElf = async (path) => (await readFile(path)).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));

// The library: dist/bin and dist/lib as built (dist/tests stays out).
await rm(join(dest, LIBDIR), { recursive: true, force: true });
const libRoot = join(dest, LIBDIR);
await copyTree(join(dist, "bin"), join(libRoot, "dist", "bin"), () => true);
await copyTree(join(dist, "lib"), join(libRoot, "dist", "lib"), (rel, dir) => dir || rel.endsWith(".js"));
// Our native addons (npm run build:native): lib/<dir>/native/…/build/Release/<name>.node, loaded relative to the
// compiled module, so they go to the same path below dist/ (the loaders' first candidate).
for (const addon of await nativeAddons(join(REPO, "lib"))) {
  const rel = relative(REPO, addon);
  await mkdir(join(libRoot, "dist", dirname(rel)), { recursive: true });
  await copyFile(addon, join(libRoot, "dist", rel));
}
await write(
  join(LIBDIR, "package.json"),
  `${JSON.stringify({ name: pkg.name, version: pkg.version, description: pkg.description, license: pkg.license, type: pkg.type, private: true }, null, 2)}\n`,
);

/**
 * Optional dependencies that only build native addons (C++ headers, a configure step): nothing requires them at
 * run time (ssh2 and cpu-features load their built .node files directly).
 */
const BUILD_ONLY = new Set(["node_modules/nan", "node_modules/buildcheck"]);

// Production dependencies: every package-lock entry that is not dev-only and was installed.
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path === "" || entry.dev || entry.link || BUILD_ONLY.has(path)) continue;
  const from = join(REPO, path);
  if (!existsSync(from)) {
    if (entry.optional) continue;
    throw new Error(`${path} (a production dependency) is not installed: run npm ci`);
  }
  const to = join(libRoot, path);
  await copyTree(from, to, (rel, dir) => {
    const parts = rel.split("/");
    if (parts[0] === "node_modules") return false; // nested packages are entries of their own
    // node-gyp's build directory (next to binding.gyp): only the addons themselves (Release/*.node), not objects or Makefiles.
    const native = existsSync(join(from, "binding.gyp"));
    if (native && parts[0] === "deps") return false; // a native package's bundled C sources
    const b = parts.indexOf("build");
    if (b >= 0 && existsSync(join(from, ...parts.slice(0, b), "binding.gyp"))) return dir ? parts.length <= b + 2 && (parts.length === b + 1 || parts[b + 1] === "Release") : parts.length === b + 3 && parts[b + 1] === "Release" && rel.endsWith(".node");
    // What only a package's developers use: its tests, benchmarks, examples, type declarations, sources, docs.
    if (dir) return !["test", "tests", "spec", "benchmark", "examples", ".github"].includes(parts[parts.length - 1]);
    if (/LICEN[CS]E/i.test(rel) || rel === "package.json") return true;
    return !/\.(d\.[cm]?ts|ts|map|gyp|gypi|cc|c|h|hpp|md|html)$/.test(rel) && !/^(Gruntfile|Makefile|\.)/.test(parts[parts.length - 1]);
  });
}

// Native code in the tree: stripped (the debug symbols are of no use on a signing host).
async function* files(dir) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile()) yield p;
  }
}
const elf = [];
for await (const f of files(libRoot)) {
  if (await isElf(f)) {
    execFileSync("strip", ["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", f]);
    elf.push(relative(dest, f));
  }
}
// Modes: directories 0755, executables (bin/ entries and native programs) 0755, everything else 0644.
for await (const f of files(libRoot)) {
  const rel = relative(libRoot, f);
  // The launchers' .mjs modules keep tsc's shebang line: executable too, as the shebang says.
  const executable = (rel.startsWith("dist/bin/") && !rel.includes("/chunks/") && !rel.endsWith("package.json")) || (elf.includes(relative(dest, f)) && !f.endsWith(".node"));
  await chmod(f, executable ? 0o755 : 0o644);
}

// /usr/bin: one relative link per executable.
const names = Object.keys(pkg.bin).sort();
for (const name of names) {
  const target = join(LIBDIR, pkg.bin[name]);
  if (!existsSync(join(dest, target))) throw new Error(`${pkg.bin[name]} (package.json bin ${name}) is not in the tree`);
  await link(join("usr/bin", name), relative("usr/bin", target));
}

// systemd units, tmpfiles.d.
for (const unit of (await readdir(join(REPO, "systemd"))).sort()) {
  await write(join("usr/lib/systemd/system", unit), await readFile(join(REPO, "systemd", unit)));
}
const layout = hostLayout();
const hostWide = hostWideFiles(layout);
for (const f of hostWide.filter((x) => x.kind === "tmpfiles")) await write(f.path.slice(1), f.content);

// Man pages and completions.
const byName = new Map(COMMANDS.map((c) => [c.name, c]));
for (const name of names) {
  const spec = byName.get(name) ?? COMMANDS.find((c) => (c.aliases ?? []).includes(name));
  if (!spec) throw new Error(`${name}: no command table (lib/cli/commands)`);
  const section = manSection(spec);
  const page = `usr/share/man/man${section}/${spec.name}.${section}.gz`;
  if (spec.name === name) await write(page, gzipSync(renderManPage(spec, { version: pkg.version, date }), { level: 9 }));
  else await link(`usr/share/man/man${section}/${name}.${section}.gz`, `${spec.name}.${section}.gz`);
  if (hasCompletion(spec)) await write(`usr/share/bash-completion/completions/${name}`, renderBashCompletion(spec));
}
{
  const text = renderConfigManPage(await readFile(join(REPO, CONFIG_PAGE.source), "utf8"), { version: pkg.version, date });
  await write(`usr/share/man/man${CONFIG_PAGE.section}/${CONFIG_PAGE.name}.${CONFIG_PAGE.section}.gz`, gzipSync(text, { level: 9 }));
}

// Examples and the inactive hardening drop-in.
const examples = "usr/share/doc/signstar/examples";
for (const f of (await readdir(join(REPO, "config"))).sort()) await write(join(examples, f), await readFile(join(REPO, "config", f)));
for (const f of hostWide.filter((x) => x.kind === "hardening")) await write(join(examples, "sshd_config.d", f.path.split("/").pop()), f.content);
// The p11-kit unit's environment file, from the settings its header comment lists (`#   KEY=value   # why`).
const p11Unit = await readFile(join(REPO, "systemd", "p11-kit-signstar@.service"), "utf8");
const envLines = [...p11Unit.matchAll(/^#\s+([A-Z][A-Z0-9_]*=\S+)/gm)].map((m) => m[1]);
if (envLines.length === 0) throw new Error("systemd/p11-kit-signstar@.service no longer lists its environment settings");
await write(join(examples, "p11-kit-signstar.env"), `# /etc/signstar/p11-kit-signstar.env (root:root 0644, no secrets), read by p11-kit-signstar@.service.\n${envLines.join("\n")}\n`);

process.stdout.write(`${names.join("\n")}\n`);
