#!/usr/bin/env node
/**
 * `npm run build:native`: builds the native parts with node-gyp, quietly (gyp and make output only on failure):
 * - lib/signing/native/sha512: the optional SHA-512 state addon (the client's hasher);
 * - lib/os/native: unix_socket.node, peer credentials of a Unix socket (SO_PEERCRED);
 * - lib/signer/native: the ForceCommand forwarder of signing users (a C executable, see forwarder.c),
 *   copied to dist/bin/signstar-download-signature; the Node implementation stays dist/bin/signstar-download-signature.js
 *   (the forwarder execs it when no resident signer answers).
 * Headers come from /usr/include/node (Debian's nodejs-dev) when present, never from a download.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIRS = ["lib/signing/native/sha512", "lib/os/native", "lib/signer/native"];

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  // npm ships node-gyp next to itself (…/node_modules/npm/node_modules/node-gyp).
  const npmDir = resolve(dirname(process.execPath), "..", "lib", "node_modules", "npm");
  const bundled = join(npmDir, "node_modules", "node-gyp", "bin", "node-gyp.js");
  if (existsSync(bundled)) return bundled;
  throw new Error("node-gyp not found (run through npm, or install npm)");
}

const env = { ...process.env };
if (env.npm_config_nodedir === undefined && existsSync("/usr/include/node/node_api.h")) env.npm_config_nodedir = "/usr";
const gyp = nodeGyp();
for (const dir of DIRS) {
  const r = spawnSync(process.execPath, [gyp, "rebuild", "--directory", join(root, dir)], { env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    console.error(`build-native: node-gyp failed in ${dir} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
const forwarder = join(root, "lib/signer/native/build/Release/signstar-download-signature");
const binDir = join(root, "dist", "bin");
mkdirSync(binDir, { recursive: true });
copyFileSync(forwarder, join(binDir, "signstar-download-signature"));
chmodSync(join(binDir, "signstar-download-signature"), 0o755);
console.log(`build-native: ${DIRS.length} native targets built; forwarder at dist/bin/signstar-download-signature`);
