import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// Runs the compiled executable (build first: `npm run build`, which `npm test` does).
const repo = fileURLToPath(new URL("../..", import.meta.url));
const bin = path.join(repo, "dist/bin/signstar-config.js");

function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repo, encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env }, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("signstar-config (compiled)", () => {
  it("is built", () => {
    expect(existsSync(bin)).toBe(true);
  });

  it("check prints the summary of the full example", () => {
    const r = run(["check", "--config", "config/example-full.toml"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("config/example-full.toml: valid (native layout)");
    expect(lines).toContain("system: iteration 1; admin secrets shamirs-secret-sharing (3 shares, threshold 2); non-admin secrets systemd-creds");
    expect(lines).toContain("nethsm administrators: admin, ns1~admin");
    expect(lines).toContain("  ns1-signing1 → nethsm user ns1~signing1, key signing1 (EcP256, tag signing1)");
    expect(lines).toContain('  pkcs11-signing1 → pkcs11 token label "signstar", key label "signing1" (Curve25519; secret pkcs11-token-label-signstar)');
    expect(lines.filter((l) => l.endsWith(":") && !l.includes(" "))).toEqual([
      "signing:",
      "backup:",
      "metrics:",
      "hermetic_metrics:",
      "share_holder:",
      "wire_guard_download:",
      "backup_upload:",
      "update_upload:",
      "key_certificates:",
    ]);
  });

  it("check prints every problem of a broken file on stderr and exits 4", () => {
    const f = "tests/config/fixtures/native/identical-entries.bad.toml";
    const r = run(["check", "--config", f]);
    expect(r.status).toBe(4);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(`${f}: 5 problems`);
    expect(lines.slice(1).map((l) => l.split(":")[0])).toEqual([
      "nethsm.mappings[2].signing.system_user",
      "nethsm.mappings[2].signing.ssh_authorized_key",
      "nethsm.mappings[2].signing.backend_user",
      "nethsm.mappings[2].signing.signing_key_id",
      "nethsm.mappings[2].signing.tag",
    ]);
  });

  it("check uses SIGNSTAR_CONFIG and reports a missing file in one line", () => {
    const ok = run(["check"], { SIGNSTAR_CONFIG: "config/example-softhsm.toml" });
    expect(ok.status).toBe(0);
    expect(ok.stdout.split("\n")[0]).toBe("config/example-softhsm.toml: valid (native layout)");
    const dir = mkdtempSync(path.join(os.tmpdir(), "signstar-config-bin-"));
    try {
      const missing = run(["check", "--config", path.join(dir, "none.toml")]);
      expect(missing.status).toBe(4);
      expect(missing.stdout).toBe("");
      expect(missing.stderr).toBe(`signstar-config: cannot read the configuration file ${path.join(dir, "none.toml")}: no such file\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("convert prints native TOML for a Signstar file", () => {
    const r = run(["convert", "--config", "tests/config/fixtures/signstar/v3-plaintext.toml"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.startsWith('[system]\niteration = 1\nadmin_secret_handling = "plaintext"\nnon_admin_secret_handling = "plaintext"\n')).toBe(true);
    expect(r.stdout).toContain('[[nethsm.mappings]]\nadmin = "ns1~admin"\n');
  });

  it("convert warns about what the native layout needs changed", () => {
    const r = run(["convert", "--config", "tests/config/fixtures/signstar/v1-example.toml"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("number_of_shares = 1, threshold = 1");
    expect(r.stderr.split("\n")[0]).toMatch(/^warning: system\.admin_secret_handling \(after conversion\): Shamir's Secret Sharing needs at least 2 shareholders/);
  });

  it("convert turns Signstar's V4 YAML into native TOML that checks clean; a yubihsm2 section is one line", () => {
    const yaml = "tests/fixtures/config-yaml/all-kinds.yaml";
    const r = run(["convert", "--config", yaml]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(run(["check", "--config", yaml]).stdout.split("\n")[0]).toBe(`${yaml}: valid (Signstar V4 YAML, converted)`);
    const dir = mkdtempSync(path.join(os.tmpdir(), "signstar-config-bin-"));
    try {
      const toml = path.join(dir, "config.toml");
      writeFileSync(toml, r.stdout);
      const check = run(["check", "--config", toml]);
      expect(check.stderr).toBe("");
      expect(check.status).toBe(0);
      expect(check.stdout.split("\n")[0]).toBe(`${toml}: valid (native layout)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const yubi = run(["check", "--config", "tests/fixtures/config-yaml/yubihsm2.yaml"]);
    expect(yubi.status).toBe(4);
    expect(yubi.stdout).toBe("");
    expect(yubi.stderr.trimEnd().split("\n")[1]).toMatch(/^yubihsm2: Signstar's YubiHSM2 backend \(yubihsm2\) is not supported here; supported backends: /);
  });

  it("usage errors exit 2", () => {
    const r = run(["frobnicate"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe('signstar-config: unknown command "frobnicate"; usage: signstar-config check|convert|log-key [--config FILE]\n');
    expect(run([]).status).toBe(2);
    expect(run(["check", "--bogus"]).status).toBe(2);
  });

  it("log-key: one line and exit 4 without signing_log or before signstar-configure made the key", () => {
    const off = run(["log-key", "--config", "config/example-full.toml"]);
    expect(off).toEqual({ status: 4, stdout: "", stderr: "signstar-config: the configuration does not enable the signing log (signing_log in [system])\n" });
    const root = mkdtempSync(path.join(os.tmpdir(), "signstar-config-logkey-"));
    try {
      const missing = run(["log-key", "--config", "config/example-softhsm.toml"], { SIGNSTAR_ROOT: root });
      expect(missing.status).toBe(4);
      expect(missing.stdout).toBe("");
      expect(missing.stderr).toBe(`signstar-config: the signing log has no key yet (${root}/var/lib/signstar/log.vkey is missing); run signstar-configure\n`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
