import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseAnyConfig, parseConfig } from "../../lib/config/load.js";
import { findUserMapping, userMappings } from "../../lib/config/mappings.js";
import { ConfigError, formatProblem } from "../../lib/config/problems.js";
import { renderConfig } from "../../lib/config/render.js";
import { convertSignstar, isSignstarLayout, type Conversion } from "../../lib/config/signstar.js";
import { KEYS } from "./keys.js";

/** Signstar-layout fixtures (the examples of `signstar-config/src/config/base.rs` and its test fixture directories at tag
 * signstar-config/0.2.0), keys generated for the tests. */
const text = (name: string): string => readFileSync(new URL(`./fixtures/signstar/${name}.toml`, import.meta.url), "utf8");

function convert(source: string): Conversion {
  const r = convertSignstar(parseToml(source));
  if ("rejected" in r) throw new Error(`rejected: ${r.rejected.map(formatProblem).join(" | ")}`);
  return r;
}

function rejected(source: string): string[] {
  const r = convertSignstar(parseToml(source));
  return "rejected" in r ? r.rejected.map(formatProblem) : [];
}

const ONE_SHAREHOLDER =
  "system.admin_secret_handling (after conversion): Shamir's Secret Sharing needs at least 2 shareholders; the Signstar configuration has 1 (a share-download and a share-upload user with the same key count as one)";

describe("Signstar layout: detection and conversion of the reference examples", () => {
  it("detects the layout", () => {
    expect(isSignstarLayout(parseToml(text("v1-example")))).toBe(true);
    expect(isSignstarLayout(parseToml(readFileSync(new URL("../../config/example-full.toml", import.meta.url), "utf8")))).toBe(false);
  });

  it("converts the §2.2 example (V1): mappings, users and the share-holder pairing", () => {
    const { config, problems } = convert(text("v1-example"));
    expect(problems.map(formatProblem)).toEqual([ONE_SHAREHOLDER]);
    expect(config.system.nonAdminSecretHandling).toBe("systemd-creds");
    // ssh-share-down and ssh-share-up use one key: they become one share holder, named after the downloader.
    expect(config.system.mappings.map((m) => [m.kind, m.systemUser])).toEqual([
      ["share_holder", "ssh-share-down"],
      ["wire_guard_download", "ssh-wireguard-down"],
    ]);
    expect(config.nethsm?.connections).toEqual([{ url: "https://localhost:8443/api/v1/", tlsSecurity: { kind: "Unsafe" } }]);
    expect(config.nethsm?.mappings.map((m) => `${m.kind}:${"backendUser" in m ? m.backendUser : m.kind === "metrics" || m.kind === "hermetic_metrics" ? m.backendUsers.metricsUser : "-"}`)).toEqual([
      "admin:admin",
      "backup:backup1",
      "metrics:metrics1",
      "signing:operator1",
      "signing:operator2",
      "admin:ns1~admin",
      "signing:ns1~operator1",
      "signing:ns1~operator2",
      "hermetic_metrics:metrics2",
    ]);
    const signing = config.nethsm?.mappings[3];
    expect(signing).toMatchObject({
      kind: "signing",
      signingKeyId: "key1",
      tag: "tag1",
      systemUser: "ssh-operator1",
      keySetup: {
        keyType: "Curve25519",
        keyMechanisms: ["EdDsaSignature"],
        signatureType: "EdDsa",
        openpgp: { userIds: ["Foobar McFooface <foobar@mcfooface.org>"], version: 4 },
      },
    });
    // signstar-config 0.2.0 base.rs tests: get_extended_mapping_for_user finds these in every working file, and nothing for "foo"
    for (const u of ["ssh-backup1", "ssh-metrics1", "ssh-operator1", "ssh-operator2", "ns1-ssh-operator1", "ns1-ssh-operator2", "local-metrics1", "ssh-wireguard-down"]) {
      expect(findUserMapping(config, u)?.mapping.systemUser).toBe(u);
    }
    expect(findUserMapping(config, "foo")).toBeUndefined();
    expect(userMappings(config)).toHaveLength(9); // 1 share holder, 1 wireguard, 7 nethsm users
  });

  it("V0 (key lists, no secret-handling keys), V1, V2 (nethsm = {…}) and V3 (key_id moved up) convert to the same model", () => {
    const v1 = convert(text("v1-example")).config;
    expect(convert(text("v2-example")).config).toEqual(v1);
    expect(convert(text("v3-example")).config).toEqual(v1);
    const v0 = convert(text("v0-example"));
    expect(v0.config).toEqual(v1); // V0 defaults: shamirs-secret-sharing / systemd-creds
    expect(text("v0-example")).not.toContain("secret_handling");
  });

  it("the mkosi default config (V0 form, admin and share users only)", () => {
    const { config, problems } = convert(text("mkosi-default"));
    expect(problems.map(formatProblem)).toEqual([ONE_SHAREHOLDER]);
    expect(config.system.adminSecretHandling).toEqual({ kind: "shamirs-secret-sharing", numberOfShares: 1, threshold: 1 });
    expect(config.nethsm?.mappings).toEqual([{ kind: "admin", backendUser: "admin" }]);
  });

  it("parseConfig refuses a converted configuration that breaks native rules, with the conversion problem", () => {
    try {
      parseConfig(text("v1-example"), "v1.toml");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems.map(formatProblem)).toEqual([ONE_SHAREHOLDER]);
    }
  });

  it("two distinct share keys make two share holders and a valid 2-of-2 configuration", () => {
    const config = parseConfig(text("two-shareholders"), "x");
    expect(config.system.adminSecretHandling).toEqual({ kind: "shamirs-secret-sharing", numberOfShares: 2, threshold: 2 });
    expect(config.system.mappings.filter((m) => m.kind === "share_holder").map((m) => m.systemUser)).toEqual(["ssh-share-down", "ssh-share-up"]);
  });

  it("a plaintext configuration converts into a valid one that renders and re-parses identically", () => {
    const parsed = parseAnyConfig(text("v3-plaintext"), "x");
    expect(parsed.layout).toBe("signstar");
    const again = parseAnyConfig(renderConfig(parsed.config), "rendered");
    expect(again.layout).toBe("native");
    expect(again.config).toEqual(parsed.config);
  });

  it("exactly identical [[users]] entries collapse (Signstar's set semantics)", () => {
    const source = text("v3-plaintext") + `\n[[users]]\nnethsm_only_admin = "admin"\n`;
    expect(convert(source).config).toEqual(convert(text("v3-plaintext")).config);
  });
});

describe("Signstar layout: Signstar's verdicts (0.2.0 validate, in its order)", () => {
  it.each([
    ["duplicate-system-user", ["users[4].system_nethsm_operator_signing.system_user: The system user ID ssh-operator1 is used more than once!"]],
    ["duplicate-nethsm-user", ["users[7].system_nethsm_operator_signing.nethsm_user: The NetHsm user ID ns1~operator1 is used more than once!"]],
    ["metrics-also-operator", ["users[2].system_nethsm_metrics.nethsm_users.operator_users[0]: The NetHsm user ID metrics1 is used more than once!"]],
    ["missing-administrator", ["users: No user in the Administrator role exists (system-wide)"]],
    ["missing-namespace-administrator", ["users: No user in the Administrator role exists (ns1)"]],
    [
      "duplicate-authorized-keys-users",
      [`users[4].system_nethsm_operator_signing.ssh_authorized_key: The SSH public key "${KEYS.k3.split(" ").slice(0, 2).join(" ")} user@host" is used more than once!`],
    ],
    [
      "duplicate-authorized-keys-share-downloader",
      [`users[9].system_only_share_download.ssh_authorized_key: The SSH public key "${KEYS.k1.split(" ").slice(0, 2).join(" ")} user@host" is used more than once!`],
    ],
    ["missing-share-download-user", ["users: No system user for downloading shares of a shared secret exists."]],
    ["missing-share-upload-user", ["users: No system user for uploading shares of a shared secret exists."]],
    [
      "no-sss-but-shares",
      [
        'users: Shamir\'s Secret Sharing not used for administrative secret handling, but the following users are setup to handle shares: [SystemUserId("ssh-share-down"), SystemUserId("ssh-share-up")]',
      ],
    ],
    ["duplicate-key-id", ['users[4].system_nethsm_operator_signing.key_id: The key ID "key1" (system-wide) is used more than once']],
    ["duplicate-key-id-in-namespace", ['users[7].system_nethsm_operator_signing.key_id: The key ID "key1" (namespace: "ns1") is used more than once']],
    ["duplicate-tag", ["users[4].system_nethsm_operator_signing.tag: The tag tag1 (system-wide) is used more than once"]],
    ["duplicate-tag-in-namespace", ['users[7].system_nethsm_operator_signing.tag: The tag tag1 (namespace: "ns1") is used more than once']],
    [
      // several failures: all listed, the first is the one Signstar reports (its checks stop there)
      "several-failures",
      [
        "users[4].system_nethsm_operator_signing.system_user: The system user ID ssh-operator1 is used more than once!",
        'users: Shamir\'s Secret Sharing not used for administrative secret handling, but the following users are setup to handle shares: [SystemUserId("ssh-share-down"), SystemUserId("ssh-share-up")]',
        "users[4].system_nethsm_operator_signing.tag: The tag tag1 (system-wide) is used more than once",
      ],
    ],
  ])("%s is rejected for Signstar's reason", (name, expected) => {
    expect(rejected(text(name))).toEqual(expected);
    expect(() => parseConfig(text(name), name)).toThrow(ConfigError);
  });

  it("a share downloader may share its key with one uploader, but not with a second downloader", () => {
    const base = text("v3-plaintext").replace('admin_secret_handling = "plaintext"', 'admin_secret_handling = "shamirs-secret-sharing"');
    const share = (kind: string, user: string, key: string): string =>
      `\n[[users]]\n[users.system_only_share_${kind}]\nssh_authorized_key = "${key}"\nsystem_user = "${user}"\n`;
    expect(rejected(base + share("download", "d1", KEYS.k12) + share("upload", "u1", KEYS.k12))).toEqual([]);
    expect(rejected(base + share("download", "d1", KEYS.k12) + share("download", "d2", KEYS.k12) + share("upload", "u1", KEYS.k13))).toEqual([
      `users[11].system_only_share_download.ssh_authorized_key: The SSH public key "${KEYS.k12}" is used more than once!`,
    ]);
  });

  it("the TOML-era comparison includes the comment: same key, other comment is not a Signstar duplicate", () => {
    const other = KEYS.k3.split(" ").slice(0, 2).join(" ");
    const source = text("v3-plaintext").replace(/(ssh-operator2"\n)/, "$1").replace(KEYS.k4.split(" ").slice(0, 2).join(" "), other);
    const r = convertSignstar(parseToml(source.replace(`${other} user@host"\nsystem_user = "ssh-operator2"`, `${other} other@host"\nsystem_user = "ssh-operator2"`)));
    expect("rejected" in r).toBe(false);
    // the native layout compares key data only, so the converted configuration reports it
    expect((r as Conversion).problems.map(formatProblem)).toEqual([
      `nethsm.mappings[4].signing.ssh_authorized_key (after conversion): duplicate SSH public key "${other.slice(0, 71)}…" (also used at nethsm.mappings[3].signing.ssh_authorized_key)`,
    ]);
  });

  it("structural problems: missing keys, both key_id forms, unknown user kinds, V0 lists", () => {
    const v1 = text("v3-plaintext");
    expect(rejected(v1.replace('admin_secret_handling = "plaintext"\n', ""))).toEqual(["admin_secret_handling: is required but missing"]);
    expect(rejected(v1.replace('key_id = "key1"\nnethsm_user = "operator1"', 'key_id = "key1"\nnethsm_user = "operator1"\nextra = 1'))).toEqual([
      "users[3].system_nethsm_operator_signing.extra: unknown key (allowed here: system_user, nethsm_user, tag, ssh_authorized_key, nethsm_key_setup, key_id)",
    ]);
    const both = v1.replace(
      /(nethsm_user = "operator1"[\s\S]*?\[users\.system_nethsm_operator_signing\.nethsm_key_setup\]\n)/,
      '$1key_id = "key9"\n',
    );
    expect(rejected(both)).toEqual(["users[3].system_nethsm_operator_signing.nethsm_key_setup.key_id: key_id is given twice (here and beside nethsm_user); keep one"]);
    expect(rejected(`${v1}\n[[users]]\nsystem_only_foo = { system_user = "x" }\n`)).toEqual([
      "users[10].system_only_foo: unknown kind (allowed here: nethsm_only_admin, system_nethsm_backup, system_nethsm_metrics, hermetic_system_nethsm_metrics, system_nethsm_operator_signing, system_only_share_download, system_only_share_upload, system_only_wireguard_download)",
    ]);
    const twoKeys = text("v0-example").replace(
      /ssh_authorized_keys = \["([^"]+)"\]\nsystem_user = "ssh-wireguard-down"/,
      `ssh_authorized_keys = ["$1", "${KEYS.k16}"]\nsystem_user = "ssh-wireguard-down"`,
    );
    expect(convert(twoKeys).problems.map(formatProblem)).toEqual([
      "users[11].system_only_wireguard_download.ssh_authorized_keys (after conversion): the native layout has one SSH key per user; ssh-wireguard-down lists 2 (split it into one user per key)",
      ONE_SHAREHOLDER,
    ]);
  });

  it("fingerprint TLS security in Signstar's spelling", () => {
    const fp = "ab".repeat(32);
    const source = text("v3-plaintext").replace('tls_security = "Unsafe"', `tls_security = { Fingerprints = { sha256 = ["${fp}"] } }`);
    expect(convert(source).config.nethsm?.connections[0]?.tlsSecurity).toEqual({ kind: "Fingerprints", sha256: [fp] });
  });
});
