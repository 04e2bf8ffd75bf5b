import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config/load.js";
import { ConfigError, formatProblem } from "../../lib/config/problems.js";
import { ExitCode } from "../../lib/errors.js";

/**
 * One passing (`<rule>.ok.toml`, a near miss) and one failing (`<rule>.bad.toml`) fixture per validation rule,
 * with every problem of the failing one asserted exactly, in order.
 */
const fixture = (name: string): string => readFileSync(new URL(`./fixtures/native/${name}.toml`, import.meta.url), "utf8");

function problemsOf(text: string, origin: string): string[] {
  try {
    parseConfig(text, origin);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).exitCode).toBe(ExitCode.Config);
    return (e as ConfigError).problems.map(formatProblem);
  }
  return [];
}

const EXPECTED: Record<string, string[]> = {
  "duplicate-ssh-key": [
    "system.mappings[1].wire_guard_download.ssh_authorized_key: duplicate SSH public key \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoaqAzWpBTvxkRMWs2npS0PoVH5YCQliEZ…\" (also used at system.mappings[0].wire_guard_download.ssh_authorized_key)",
  ],
  "duplicate-ssh-key-across-sections": [
    "nethsm.mappings[1].signing.ssh_authorized_key: duplicate SSH public key \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFeeESmtRucRKDxDQM3wgyLvuDxPBSpg9Tu…\" (also used at system.mappings[0].wire_guard_download.ssh_authorized_key)",
    "pkcs11.mappings[1].signing.ssh_authorized_key: duplicate SSH public key \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFeeESmtRucRKDxDQM3wgyLvuDxPBSpg9Tu…\" (also used at system.mappings[0].wire_guard_download.ssh_authorized_key)",
  ],
  "duplicate-system-user": [
    "system.mappings[1].wire_guard_download.system_user: duplicate system user ID \"wg1\" (also used at system.mappings[0].wire_guard_download.system_user)",
  ],
  "duplicate-system-user-across-sections": [
    "nethsm.mappings[1].signing.system_user: duplicate system user ID \"signer\" (also used at system.mappings[0].wire_guard_download.system_user)",
    "pkcs11.mappings[1].signing.system_user: duplicate system user ID \"signer\" (also used at system.mappings[0].wire_guard_download.system_user)",
  ],
  "identical-entries": [
    "nethsm.mappings[2].signing.system_user: duplicate system user ID \"signer\" (also used at nethsm.mappings[1].signing.system_user)",
    "nethsm.mappings[2].signing.ssh_authorized_key: duplicate SSH public key \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFeeESmtRucRKDxDQM3wgyLvuDxPBSpg9Tu…\" (also used at nethsm.mappings[1].signing.ssh_authorized_key)",
    "nethsm.mappings[2].signing.backend_user: duplicate backend user ID \"signing\" (also used at nethsm.mappings[1].signing.backend_user)",
    "nethsm.mappings[2].signing.signing_key_id: duplicate system-wide key ID \"key1\" (also used at nethsm.mappings[1].signing.signing_key_id)",
    "nethsm.mappings[2].signing.tag: duplicate system-wide tag \"tag1\" (also used at nethsm.mappings[1].signing.tag)",
  ],
  "nethsm-duplicate-backend-user": [
    "nethsm.mappings[2].signing.backend_user: duplicate backend user ID \"signing\" (also used at nethsm.mappings[1].backup.backend_user)",
  ],
  "nethsm-duplicate-key-id": [
    "nethsm.mappings[2].signing.signing_key_id: duplicate system-wide key ID \"key1\" (also used at nethsm.mappings[1].signing.signing_key_id)",
  ],
  "nethsm-duplicate-key-id-in-namespace": [
    "nethsm.mappings[3].signing.signing_key_id: duplicate key ID \"key1\" in namespace \"ns1\" (also used at nethsm.mappings[2].signing.signing_key_id)",
  ],
  "nethsm-duplicate-tag": [
    "nethsm.mappings[2].signing.tag: duplicate system-wide tag \"tag1\" (also used at nethsm.mappings[1].signing.tag)",
  ],
  "nethsm-duplicate-tag-in-namespace": [
    "nethsm.mappings[3].signing.tag: duplicate tag \"tag1\" in namespace \"ns1\" (also used at nethsm.mappings[2].signing.tag)",
  ],
  "nethsm-duplicate-url": [
    "nethsm.connections[1].url: duplicate URL \"https://127.0.0.1:8080/\" (also used at nethsm.connections[0].url)",
  ],
  "nethsm-metrics-user-also-operator": [
    "nethsm.mappings[1].metrics.backend_users.operator_users[1]: the metrics user \"metrics\" is also one of its operator users",
  ],
  "nethsm-namespace-without-admin": [
    "nethsm.mappings[2].metrics.backend_users.operator_users[0]: the namespace \"ns1\" has no administrator user (add a mapping admin = \"ns1~<name>\")",
    "nethsm.mappings[4].signing.backend_user: the namespace \"ns3\" has no administrator user (add a mapping admin = \"ns3~<name>\")",
  ],
  "nethsm-no-connections": [
    "nethsm.connections: contains no connections (add at least one { url, tls_security })",
  ],
  "nethsm-no-mappings": [
    "nethsm.mappings: no user mappings",
  ],
  "nethsm-no-system-wide-admin": [
    "nethsm.mappings: no system-wide administrator user (add a mapping admin = \"<name>\")",
  ],
  "pkcs11-duplicate-admin": [
    "pkcs11.mappings[1].admin.token: duplicate admin mapping for token label \"tok1\" (also used at pkcs11.mappings[0].admin.token)",
  ],
  "pkcs11-duplicate-key": [
    "pkcs11.mappings[2].signing.key: duplicate key id \"0a\" on token label \"tok1\" (also used at pkcs11.mappings[1].signing.key)",
  ],
  "pkcs11-no-mappings": [
    "pkcs11.mappings: no user mappings",
  ],
  "pkcs11-token-without-admin": [
    "pkcs11.mappings[1].signing.token: token label \"other\" has no admin mapping (add a mapping admin = { token = … } for it)",
  ],
  "shareholders-without-sss": [
    "system.mappings: 2 SSS shareholders, but the administrative secret handling is systemd-creds",
  ],
  "sss-parameters": [
    "system.admin_secret_handling.shamirs-secret-sharing.threshold: the threshold 3 is larger than number_of_shares 2",
  ],
  "sss-shareholders": [
    "system.mappings: only 2 shareholders, but the SSS setup requires 3",
  ],
  "unknown-keys": [
    "system.iterations: unknown key (allowed here: iteration, admin_secret_handling, non_admin_secret_handling, mappings, signing_log, audit_log, signing_concurrency, signing_queue)",
    "nethsm.mappings[1].signing.tags: unknown key (allowed here: backend_user, signing_key_id, key_setup, tag, system_user, ssh_authorized_key)",
    "yubihsm2: unknown key (allowed here: system, nethsm, pkcs11)",
  ],
};

describe("validation rules (native layout)", () => {
  for (const [rule, problems] of Object.entries(EXPECTED)) {
    it(`${rule}: the passing fixture is valid`, () => {
      expect(problemsOf(fixture(`${rule}.ok`), rule)).toEqual([]);
    });
    it(`${rule}: the failing fixture reports exactly its problems`, () => {
      expect(problemsOf(fixture(`${rule}.bad`), rule)).toEqual(problems);
    });
  }

  it("the summary message names the origin, the count and the first problem", () => {
    try {
      parseConfig(fixture("identical-entries.bad"), "/etc/signstar/config.toml");
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toBe(
        '/etc/signstar/config.toml: 5 problems; first: nethsm.mappings[2].signing.system_user: duplicate system user ID "signer" (also used at nethsm.mappings[1].signing.system_user)',
      );
    }
  });

  it("reports structural and rule problems together, in a stable order", () => {
    const text = `${fixture("nethsm-duplicate-tag.bad")}\n[pkcs11]\nmodule = "relative.so"\n`;
    const first = problemsOf(text, "x");
    expect(first).toEqual([
      'pkcs11.module: the module path "relative.so" must be absolute',
      'nethsm.mappings[2].signing.tag: duplicate system-wide tag "tag1" (also used at nethsm.mappings[1].signing.tag)',
      "pkcs11.mappings: no user mappings",
    ]);
    expect(problemsOf(text, "x")).toEqual(first);
  });

  it("refuses Unsafe beside verified connections: failover would downgrade (issue 17.8)", () => {
    const base = fixture("nethsm-namespace-without-admin.ok");
    const unsafe = 'connections = [{ url = "https://nethsm.example.org/api/v1/", tls_security = "Unsafe" }]';
    expect(base).toContain(unsafe);
    const mixed = base.replace(
      unsafe,
      'connections = [{ url = "https://a.example.org/api/v1/", tls_security = "Native" }, { url = "https://b.example.org/api/v1/", tls_security = "Unsafe" }]',
    );
    expect(problemsOf(mixed, "x")).toEqual([
      'nethsm.connections[1].tls_security: is "Unsafe" while other connections verify the certificate: failover would downgrade to an unverified connection; use one TLS mode for all connections',
    ]);
    const allUnsafe = base.replace(
      unsafe,
      'connections = [{ url = "https://a.example.org/api/v1/", tls_security = "Unsafe" }, { url = "https://b.example.org/api/v1/", tls_security = "Unsafe" }]',
    );
    expect(problemsOf(allUnsafe, "x")).toEqual([]);
  });

  it("locates TOML syntax errors", () => {
    expect(problemsOf("[system]\niteration = \n", "x")).toEqual(["line 2, column 13: invalid TOML: invalid value"]);
  });

  it("reports wrong types, missing keys and bad mapping kinds", () => {
    const text = [
      "[system]",
      'iteration = "1"',
      'admin_secret_handling = "plaintext"',
      "",
      "[[system.mappings]]",
      'share_holder = { system_user = "a" }',
      "",
      "[[system.mappings]]",
      'signing = { system_user = "b" }',
      "",
      "[[system.mappings]]",
      "",
      "[nethsm]",
      "connections = [{ url = \"http://x/\", tls_security = \"Unsafe\" }]",
      "[[nethsm.mappings]]",
      'admin = "Admin"',
    ].join("\n");
    expect(problemsOf(text, "x")).toEqual([
      "system.iteration: expected an integer, found a string",
      "system.non_admin_secret_handling: is required but missing",
      "system.mappings[0].share_holder.ssh_authorized_key: is required but missing",
      "system.mappings[1].signing: unknown kind (allowed here: share_holder, wire_guard_download, log_reader)",
      "system.mappings[2]: expected exactly one of share_holder, wire_guard_download, log_reader; found none",
      'nethsm.connections[0].url: the URL "http://x/" is invalid: it must use https',
      'nethsm.mappings[0].admin: the NetHSM user ID "Admin" is invalid (use "name" or "namespace~name", each part 1 to 128 characters of a-z and 0-9)',
      'nethsm.mappings: no system-wide administrator user (add a mapping admin = "<name>")',
    ]);
  });

  it("requires [system] and accepts a config with only [system]", () => {
    expect(problemsOf("", "x")).toEqual(["system: is required but missing"]);
    const cfg = parseConfig('[system]\niteration = 0\nadmin_secret_handling = "systemd-creds"\nnon_admin_secret_handling = "systemd-creds"\n', "x");
    expect(cfg).toEqual({
      system: { iteration: 0, adminSecretHandling: { kind: "systemd-creds" }, nonAdminSecretHandling: "systemd-creds", mappings: [] },
    });
  });

  it("backup and metrics backend users must be system-wide", () => {
    const text = fixture("nethsm-duplicate-backend-user.ok").replace('backend_user = "backup"', 'backend_user = "ns1~backup"');
    expect(problemsOf(text, "x")).toEqual([
      'nethsm.mappings[1].backup.backend_user: the NetHSM user ID "ns1~backup" has a namespace, but this user must be system-wide',
    ]);
  });
});
