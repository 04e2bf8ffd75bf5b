/**
 * The server-side signing path must stay light: request, response, state codec and OpenPGP modules may import
 * only node: built-ins, @noble/hashes and each other (no CLI framework, no openpgp.js, no ssh2).
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const signing = fileURLToPath(new URL("../../lib/signing/", import.meta.url));
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
  "openpgp/signature-parse.ts",
];

function closure(): { files: Set<string>; bare: Set<string> } {
  const files = new Set<string>();
  const bare = new Set<string>();
  const todo = roots.map((r) => join(signing, r));
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    const src = readFileSync(file, "utf8");
    for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? "";
      if (spec.startsWith(".")) todo.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else bare.add(spec);
    }
  }
  return { files, bare };
}

it("the signing path imports only node built-ins and @noble/hashes", () => {
  const { files, bare } = closure();
  expect(files.size).toBeGreaterThanOrEqual(roots.length);
  const outside = [...bare].filter((s) => !s.startsWith("node:") && !s.startsWith("@noble/hashes/"));
  expect(outside).toEqual([]);
  expect([...bare].sort()).toContain("@noble/hashes/sha2.js");
  for (const f of files) expect(f.startsWith(resolve(signing, ".."))).toBe(true);
});
