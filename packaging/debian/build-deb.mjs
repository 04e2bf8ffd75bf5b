#!/usr/bin/env node
/**
 * Builds signstar_<version>_<arch>.deb with Debian's own tools (dpkg-shlibdeps, dpkg-deb) from the tree
 * packaging/tree.mjs installs (after `npm run build`; `npm run package` runs both). A native package (the version
 * is package.json's, without a Debian revision); architecture-specific because of the native addons, whose
 * library dependencies dpkg-shlibdeps adds to Depends.
 *
 * Usage: node packaging/debian/build-deb.mjs [--out DIR]   (default: build/ of this repository)
 * Prints the path of the .deb.
 */
import { execFileSync } from "node:child_process";
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const { values } = parseArgs({ options: { out: { type: "string" } }, strict: true, allowPositionals: false });
const out = resolve(values.out ?? join(REPO, "build"));
const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8"));

const NAME = "signstar";
const MAINTAINER = "Signstar in TypeScript <signstar-ts@example.org>";
/** Debian packages by name: what the tools run (sshd, useradd, p11-kit) and the Node.js the code needs. */
const DEPENDS = [`nodejs (>= ${pkg.engines.node.replace(/^>=\s*/, "")})`, "openssh-server", "p11-kit", "passwd"];
const RECOMMENDS = ["systemd"];
const SUGGESTS = ["softhsm2", "wireguard-tools", "prometheus-node-exporter", "opensc"];

/** Licence texts the copyright file quotes (Apache-2.0 is in /usr/share/common-licenses). */
const MIT_TEXT = ` Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.`;

const IN_PACKAGE = " The full text is in the LICENSE file of each package so licensed, installed next to it.";

const ISC_TEXT = ` Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.
 .
 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`;

const sh = (cmd, args, opts = {}) => String(execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], ...opts }) ?? "").trim();
const arch = sh("dpkg", ["--print-architecture"]);
const version = pkg.version;
const stage = join(out, "deb", `${NAME}_${version}_${arch}`);
const date = sh("git", ["-C", REPO, "log", "-1", "--format=%cs"]);
const rfc2822 = new Date(`${date}T00:00:00Z`).toUTCString().replace("GMT", "+0000");

await rm(stage, { recursive: true, force: true });
await mkdir(stage, { recursive: true });
await chmod(stage, 0o755);
sh("node", [join(REPO, "packaging", "tree.mjs"), "--dest", stage, "--date", date], { stdio: ["ignore", "ignore", "inherit"] });

async function write(path, content, mode = 0o644) {
  const full = join(stage, path);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, content);
  await chmod(full, mode);
}

// Debian's documentation files.
const doc = "usr/share/doc/signstar";
await write(join(doc, "README.Debian"), await readFile(join(HERE, "README.Debian")));
await write(
  join(doc, "changelog.gz"),
  gzipSync(`${NAME} (${version}) unstable; urgency=medium\n\n  * Built from ${pkg.name} ${version}.\n\n -- ${MAINTAINER}  ${rfc2822}\n`, { level: 9 }),
);
await write(join(doc, "copyright"), await copyright());

/** machine-readable debian/copyright: Signstar's licence and each bundled Node.js package's. */
async function copyright() {
  const modules = join(stage, "usr/lib/signstar/node_modules");
  const stanzas = [];
  const licenses = new Set(["Apache-2.0", "MIT"]);
  const walk = async (dir) => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name.startsWith("@")) {
        await walk(p);
        continue;
      }
      const meta = JSON.parse(await readFile(join(p, "package.json"), "utf8"));
      // "license" (SPDX), or the older "licenses": [{ type }] list.
      const license = String(meta.license ?? (Array.isArray(meta.licenses) ? meta.licenses.map((l) => l.type).join(" OR ") : "UNKNOWN"));
      licenses.add(license);
      const author = typeof meta.author === "string" ? meta.author : (meta.author?.name ?? `the ${meta.name} authors`);
      stanzas.push(`Files: ${relative(stage, p)}/*\nCopyright: ${author}\nLicense: ${license}\n`);
      await readdir(join(p, "node_modules")).then(() => walk(join(p, "node_modules")), () => undefined);
    }
  };
  await walk(modules);
  const text = {
    "Apache-2.0": " On Debian systems, the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.",
    MIT: MIT_TEXT,
    ISC: ISC_TEXT,
    "BSD-3-Clause": IN_PACKAGE,
    Unlicense: IN_PACKAGE,
  };
  const unknown = [...licenses].flatMap((l) => l.split(/ OR | AND |[()]/).map((x) => x.trim()).filter((x) => x !== "")).filter((l) => !(l in text));
  if (unknown.length > 0) throw new Error(`copyright: no licence text for ${[...new Set(unknown)].join(", ")} (add it to packaging/debian/build-deb.mjs)`);
  const used = [...new Set([...licenses].flatMap((l) => l.split(/ OR | AND |[()]/).map((x) => x.trim()).filter((x) => x !== "")))].sort();
  return [
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: signstar-ts\n",
    `Files: *\nCopyright: 2025-2026 the Signstar in TypeScript authors\nLicense: Apache-2.0 or MIT\n`,
    ...stanzas,
    ...used.map((l) => `License: ${l}\n${text[l]}\n`),
  ].join("\n");
}

// The control area.
const elf = [];
async function* files(dir) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile()) yield p;
  }
}
const sums = [];
for await (const f of files(stage)) {
  const data = await readFile(f);
  if (data.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) elf.push(f);
  sums.push(`${createHash("md5").update(data).digest("hex")}  ${relative(stage, f)}`);
}
// dpkg-shlibdeps reads debian/control of the directory it runs in: a minimal one in a scratch directory.
const scratch = join(out, "deb", "shlibdeps");
await rm(scratch, { recursive: true, force: true });
await mkdir(join(scratch, "debian"), { recursive: true });
await writeFile(join(scratch, "debian", "control"), `Source: ${NAME}\n\nPackage: ${NAME}\nArchitecture: any\n`);
const shlibs = elf.length === 0 ? "" : sh("dpkg-shlibdeps", ["-O", "--ignore-missing-info", "--warnings=0", ...elf], { cwd: scratch, stdio: ["ignore", "pipe", "pipe"] }).replace(/^shlibs:Depends=/, "");
await rm(scratch, { recursive: true, force: true });

// prerm stops every unit, and every running instance of a template (systemctl matches the quoted patterns).
const units = (await readdir(join(REPO, "systemd"))).sort().map((u) => (u.includes("@.") ? `'${u.replace("@.", "@*.")}'` : u));
const installedKiB = Number(sh("du", ["-sk", "--apparent-size", stage]).split(/\s+/)[0]);
const control = [
  `Package: ${NAME}`,
  `Version: ${version}`,
  `Architecture: ${arch}`,
  `Maintainer: ${MAINTAINER}`,
  `Installed-Size: ${installedKiB}`,
  `Depends: ${[...DEPENDS, ...(shlibs ? [shlibs] : [])].join(", ")}`,
  `Recommends: ${RECOMMENDS.join(", ")}`,
  `Suggests: ${SUGGESTS.join(", ")}`,
  "Section: admin",
  "Priority: optional",
  "Description: signing enclave between SSH clients and hardware security modules",
  " Signstar issues OpenPGP signatures with keys held in a NetHSM or a PKCS#11",
  " token (SoftHSMv2, p11-kit) to clients that reach it over SSH. Each client is",
  " a Unix user whose SSH ForceCommand can only sign with its own key; the client",
  " sends a hash state, never the file. This package has the host tools, the",
  " client (signstar-request-signature), systemd units, man pages and bash",
  " completions.",
  "",
].join("\n");
await write("DEBIAN/control", control);
await write("DEBIAN/md5sums", `${sums.sort((a, b) => a.slice(34).localeCompare(b.slice(34))).join("\n")}\n`);
await write("DEBIAN/postinst", await readFile(join(HERE, "postinst")), 0o755);
await write("DEBIAN/postrm", await readFile(join(HERE, "postrm")), 0o755);
await write("DEBIAN/prerm", (await readFile(join(HERE, "prerm"), "utf8")).replace("@UNITS@", units.join(" ")), 0o755);

// Directories 0755 (umask-independent), then the archive (owned by root whatever the builder is).
const dirs = sh("find", [stage, "-type", "d"]).split("\n");
for (const d of dirs) await chmod(d, 0o755);
const deb = join(out, `${NAME}_${version}_${arch}.deb`);
await rm(deb, { force: true });
sh("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", stage, deb], { stdio: ["ignore", "ignore", "inherit"] });
if (!(await stat(deb)).isFile()) throw new Error(`${deb} was not built`);
process.stdout.write(`${deb}\n`);
