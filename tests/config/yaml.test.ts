import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify as stringifyToml } from "smol-toml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stringify as stringifyYaml } from "yaml";
import { detectFormat } from "../../lib/config/format.js";
import { loadConfig, parseAnyConfig, parseConfig } from "../../lib/config/load.js";
import { userMappings } from "../../lib/config/mappings.js";
import { ConfigError, formatProblem } from "../../lib/config/problems.js";
import { renderConfig } from "../../lib/config/render.js";
import { signstarConfigCommand } from "../../lib/config/tool.js";
import { NATIVE_EXTENSIONS } from "../../lib/config/native.js";
import { MAX_YAML_ALIASES, MAX_YAML_DEPTH } from "../../lib/config/yaml.js";
import { ExitCode } from "../../lib/errors.js";
import { KEYS } from "./keys.js";

/** Signstar V4 YAML fixtures written for this project (tests/fixtures/config-yaml/). */
const fixturePath = (name: string): string => path.join(path.dirname(new URL(import.meta.url).pathname), "../fixtures/config-yaml", name);
const fixture = (name: string): string => readFileSync(fixturePath(name), "utf8");

/** Every problem of a text, formatted (empty if it parses and converts cleanly). */
function problems(text: string, origin = "config.yaml"): string[] {
  try {
    const parsed = parseAnyConfig(text, origin);
    return parsed.layout === "native" ? [] : parsed.conversion.problems.map(formatProblem);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.length > 0 ? e.problems.map(formatProblem) : [e.message];
    throw e;
  }
}

/** `base` with `add` merged in: tables merged key by key, arrays appended to. */
function merged(base: object, add: object): object {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(add)) {
    const b = out[k];
    out[k] = Array.isArray(b) && Array.isArray(v) ? [...b, ...v] : typeof b === "object" && b !== null && typeof v === "object" && v !== null ? merged(b, v) : v;
  }
  return out;
}

const SYSTEM = "system:\n  iteration: 1\n  admin_secret_handling: plaintext\n  non_admin_secret_handling: plaintext\n";

describe("Signstar V4 YAML: every mapping kind", () => {
  it("reads all kinds into the native model", () => {
    const parsed = parseAnyConfig(fixture("all-kinds.yaml"), "all-kinds.yaml");
    expect(parsed.layout).toBe("signstar-yaml");
    const config = parsed.config;
    expect(config.system.iteration).toBe(7);
    expect(config.system.adminSecretHandling).toEqual({ kind: "shamirs-secret-sharing", numberOfShares: 3, threshold: 2 });
    expect(config.system.mappings.map((m) => `${m.kind}:${m.systemUser}`)).toEqual([
      "share_holder:share-holder1",
      "share_holder:share-holder2",
      "share_holder:share-holder3",
      "wire_guard_download:wireguard-downloader",
    ]);
    // The folded (`>-`) key reads as the one-line key.
    expect(config.system.mappings[0]!.sshAuthorizedKey.line).toBe(KEYS.k1);
    expect(config.nethsm?.connections.map((c) => c.tlsSecurity.kind)).toEqual(["Fingerprints", "Fingerprints"]);
    expect(config.nethsm?.mappings.map((m) => m.kind)).toEqual([
      "admin",
      "admin",
      "backup",
      "hermetic_metrics",
      "metrics",
      "signing",
      "signing",
      "signing",
    ]);
    const signing = config.nethsm!.mappings.filter((m) => m.kind === "signing");
    expect(signing.map((m) => [m.backendUser, m.signingKeyId, m.tag, m.keySetup.keyType, m.keySetup.keyLength])).toEqual([
      ["signing", "signing1", "signing1", "Curve25519", undefined],
      ["ns1~signing", "signing1", "signing1", "Rsa", 4096],
      ["signing2", "signing2", "signing2", "EcP256", undefined],
    ]);
    // `>` (clip) folding: its final line break is dropped.
    expect(signing[0]!.sshAuthorizedKey.line).toBe(KEYS.k7);
    expect(userMappings(config).map((u) => u.mapping.systemUser)).toContain("nethsm-hermetic-metrics-user");
  });

  it("converts to native TOML that checks clean and means the same (round trip)", () => {
    for (const name of ["all-kinds.yaml", "no-backend-plaintext.yaml", "no-mappings-systemd-creds.yaml", "trap-anchors.yaml", "trap-implicit-types.yaml"]) {
      const config = parseConfig(fixture(name), name);
      const toml = renderConfig(config);
      expect(detectFormat(toml)).toBe("toml");
      const again = parseAnyConfig(toml, `${name}.toml`);
      expect(again.layout).toBe("native");
      expect(again.config).toEqual(config);
    }
  });

  it("accepts a file with only the system section, and system.mappings absent (Signstar's one serde default)", () => {
    expect(parseConfig(fixture("no-backend-plaintext.yaml"), "x.yaml").nethsm).toBeUndefined();
    expect(parseConfig(fixture("no-mappings-systemd-creds.yaml"), "x.yaml").system.mappings).toEqual([]);
  });

  it("refuses a missing field for which Signstar has no default", () => {
    expect(problems("system:\n  iteration: 1\n  admin_secret_handling: plaintext\n")).toEqual([
      "system.non_admin_secret_handling: is required but missing",
    ]);
    expect(problems("system:\n  iteration: 1\n  admin_secret_handling: {shamirs-secret-sharing: {threshold: 2}}\n  non_admin_secret_handling: plaintext\n")).toEqual([
      "system.admin_secret_handling.shamirs-secret-sharing.number_of_shares: is required but missing",
    ]);
  });
});

describe("Signstar V4 YAML: the traps", () => {
  it("implicit types: on/off/yes/no/y stay strings (YAML 1.2 core schema)", () => {
    const config = parseConfig(fixture("trap-implicit-types.yaml"), "x.yaml");
    expect(config.system.mappings[0]!.systemUser).toBe("no");
    const [admin, signing] = config.nethsm!.mappings;
    expect(admin).toEqual({ kind: "admin", backendUser: "y" });
    expect(config.nethsm?.connections[0]?.tlsSecurity).toEqual({ kind: "Native" });
    expect(signing).toMatchObject({ kind: "signing", backendUser: "yes", signingKeyId: "off", tag: "on", systemUser: "on" });
    // true/false are booleans in YAML 1.2 too, and are not strings.
    expect(problems(`${SYSTEM}  mappings:\n    - wire_guard_download: {system_user: true, ssh_authorized_key: ${KEYS.k1}}\n`)).toEqual([
      "system.mappings[0].wire_guard_download.system_user: expected a string, found a boolean",
    ]);
  });

  it("numbers: 010, 0o3, 0x2 are refused with the decimal to write, all at once", () => {
    expect(problems(fixture("trap-numbers.yaml"))).toEqual([
      "system.iteration: the number 010 is not written in plain decimal (YAML 1.1 and 1.2 read 010, 0o17 or 0x1F differently); write 10",
      "system.admin_secret_handling.shamirs-secret-sharing.number_of_shares: the number 0o3 is not written in plain decimal (YAML 1.1 and 1.2 read 010, 0o17 or 0x1F differently); write 3",
      "system.admin_secret_handling.shamirs-secret-sharing.threshold: the number 0x2 is not written in plain decimal (YAML 1.1 and 1.2 read 010, 0o17 or 0x1F differently); write 2",
    ]);
    expect(problems(SYSTEM.replace("iteration: 1", "iteration: 1.5"))).toEqual(["system.iteration: expected an integer, found a float"]);
    expect(problems(SYSTEM.replace("iteration: 1", 'iteration: "1"'))).toEqual(["system.iteration: expected an integer, found a string"]);
  });

  it("duplicate keys are refused with line and column", () => {
    expect(problems(fixture("trap-duplicate-key.yaml"))).toEqual(["line 5, column 3: invalid YAML: Map keys must be unique"]);
  });

  it("anchors and aliases are followed, a bounded number of times", () => {
    const config = parseConfig(fixture("trap-anchors.yaml"), "x.yaml");
    const [, a, b] = config.nethsm!.mappings;
    expect(a?.kind === "signing" && b?.kind === "signing" && a.keySetup).toEqual(b?.kind === "signing" && b.keySetup);
    expect(problems(fixture("trap-billion-laughs.yaml"))).toEqual([`d[0][0]: more than ${MAX_YAML_ALIASES} aliases`]);
    // An alias inside its own anchor would expand forever: the depth bound stops it.
    expect(problems("system: &s\n  iteration: 1\n  loop: *s\n")).toEqual([
      `system${".loop".repeat(MAX_YAML_DEPTH / 2)}: nested deeper than ${MAX_YAML_DEPTH} levels`,
    ]);
  });

  it("merge keys (<<) are refused as YAML 1.1", () => {
    expect(problems(fixture("trap-merge-key.yaml"))).toEqual([
      'system."<<": merge keys (<<) are YAML 1.1, not YAML 1.2; write the keys out',
    ]);
  });

  it("multi-document files, empty files and explicit tags are refused", () => {
    expect(problems(fixture("trap-multi-document.yaml"))).toEqual([
      "(file): 2 YAML documents (separated by ---); a configuration is one document",
    ]);
    expect(problems("# nothing\n", "empty.yaml")).toEqual(["(file): empty: no YAML document"]);
    expect(problems("---\n", "empty.yaml")).toEqual(["(file): empty: no YAML document"]);
    expect(problems(fixture("trap-tag.yaml"))).toEqual(["line 3, column 26: invalid YAML: Unresolved tag: !secret"]);
    expect(problems(SYSTEM.replace("iteration: 1", "iteration:"))).toEqual(["system.iteration: expected an integer, found an empty value"]);
    expect(problems(SYSTEM.replace("iteration: 1", "iteration: !!int 1"))).toEqual([
      "system.iteration: the YAML tag !!int is not used in a configuration; remove it",
    ]);
  });

  it("keys that are not strings are refused", () => {
    expect(problems(`${SYSTEM}  1: x\n  true: y\n`)).toEqual([
      "system: the key 1 is not a string (quote it if it is meant as one)",
      "system: the key true is not a string (quote it if it is meant as one)",
    ]);
  });

  it("folded SSH keys (>- and >) read as one-line keys", () => {
    const config = parseConfig(fixture("trap-folded-key.yaml"), "x.yaml");
    expect(config.system.mappings.map((m) => m.sshAuthorizedKey.line)).toEqual([KEYS.k4, KEYS.k7]);
    // A literal block keeps its inner line breaks: not a single line.
    const literal = `${SYSTEM}  mappings:\n    - wire_guard_download:\n        system_user: wg\n        ssh_authorized_key: |\n          ${KEYS.k1.replace(" user1", "\n          user1")}\n`;
    expect(problems(literal)[0]).toMatch(/^system\.mappings\[0\]\.wire_guard_download\.ssh_authorized_key: the SSH authorized key .* is invalid: it must be a single line$/);
  });
});

describe("Signstar V4 YAML: what is not supported, and Signstar's rules first", () => {
  it("a yubihsm2 section is one line naming yubihsm2 and what is supported", () => {
    const err = (() => {
      try {
        parseConfig(fixture("yubihsm2.yaml"), "/etc/signstar/config.yaml");
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error("accepted");
    })();
    expect(err.exitCode).toBe(ExitCode.Config);
    expect(err.message).not.toContain("\n");
    expect(err.message).toBe(
      "/etc/signstar/config.yaml: 1 problem; first: yubihsm2: Signstar's YubiHSM2 backend (yubihsm2) is not supported here; supported backends: nethsm (NetHSM) in YAML or TOML, pkcs11 (PKCS#11 tokens) in the native TOML layout",
    );
  });

  it("the native extensions are refused in YAML with a pointer to the native layout", () => {
    const hint = "is an extension of this project's native TOML layout, not part of Signstar's YAML; write the configuration in the native layout (signstar-config convert prints it)";
    expect(problems(fixture("native-extensions.yaml"))).toEqual([
      `nethsm.mappings[1].backup_upload: the mapping kind backup_upload ${hint}`,
      `pkcs11: the section pkcs11 ${hint}`,
    ]);
  });

  it("one rule for every native extension: refused in YAML with one line naming it, accepted in the native TOML", () => {
    const hint = "is an extension of this project's native TOML layout, not part of Signstar's YAML; write the configuration in the native layout (signstar-config convert prints it)";
    const access = (n: keyof typeof KEYS) => ({ system_user: `ext-${n}`, ssh_authorized_key: KEYS[n] });
    const base = {
      system: { iteration: 1, admin_secret_handling: "plaintext", non_admin_secret_handling: "plaintext", mappings: [{ wire_guard_download: access("k1") }] },
      nethsm: { connections: [{ url: "https://nethsm.example.org/", tls_security: "Unsafe" }], mappings: [{ admin: "admin" }] },
    };
    // Each extension: the part added to the base, where the problem sits, and what else the native rules need with it.
    const cases: { kind: keyof typeof NATIVE_EXTENSIONS; name: string; what: string; at: string; add: object; needs?: object }[] = [
      { kind: "sections", name: "pkcs11", what: "the section", at: "pkcs11", add: { pkcs11: { module: "/usr/lib/softhsm/libsofthsm2.so", mappings: [{ admin: { token: { label: "t" } } }] } } },
      { kind: "systemKeys", name: "signing_log", what: "the key", at: "system.signing_log", add: { system: { signing_log: { origin: "signer.example.org/log" } } } },
      { kind: "systemKeys", name: "audit_log", what: "the key", at: "system.audit_log", add: { system: { audit_log: "best-effort" } } },
      { kind: "systemKeys", name: "signing_concurrency", what: "the key", at: "system.signing_concurrency", add: { system: { signing_concurrency: 2 } } },
      { kind: "systemKeys", name: "signing_queue", what: "the key", at: "system.signing_queue", add: { system: { signing_queue: 0 } } },
      { kind: "systemKinds", name: "log_reader", what: "the mapping kind", at: "system.mappings[1].log_reader", add: { system: { mappings: [{ log_reader: access("k2") }] } }, needs: { system: { signing_log: { origin: "signer.example.org/log" } } } },
      { kind: "nethsmKinds", name: "backup_upload", what: "the mapping kind", at: "nethsm.mappings[1].backup_upload", add: { nethsm: { mappings: [{ backup_upload: access("k3") }] } } },
      { kind: "nethsmKinds", name: "update_upload", what: "the mapping kind", at: "nethsm.mappings[1].update_upload", add: { nethsm: { mappings: [{ update_upload: access("k4") }] } } },
      { kind: "nethsmKinds", name: "key_certificates", what: "the mapping kind", at: "nethsm.mappings[1].key_certificates", add: { nethsm: { mappings: [{ key_certificates: { backend_users: ["certs"], ...access("k5") } }] } } },
    ];
    // The table covers every extension the dialect's one decision applies to.
    expect(cases.map((c) => `${c.kind}:${c.name}`).sort()).toEqual(
      Object.entries(NATIVE_EXTENSIONS).flatMap(([kind, names]) => names.map((n: string) => `${kind}:${n}`)).sort(),
    );
    expect(problems(stringifyYaml(base))).toEqual([]);
    for (const c of cases) {
      expect(problems(stringifyYaml(merged(base, c.add))), c.name).toEqual([`${c.at}: ${c.what} ${c.name} ${hint}`]);
      const toml = stringifyToml(merged(merged(base, c.add), c.needs ?? {}));
      const parsed = parseAnyConfig(toml, "config.toml");
      expect(parsed.layout, c.name).toBe("native");
      expect(renderConfig(parsed.config), c.name).not.toBe(renderConfig(parseConfig(stringifyToml(base), "base.toml")));
    }
  });

  it("SSS: Signstar's shareholder rule comes first, the native threshold rule after it", () => {
    expect(problems(fixture("sss-signstar-first.yaml"))).toEqual([
      "system.mappings: only 2 shareholders, but the SSS setup requires 3",
      "system.admin_secret_handling.shamirs-secret-sharing.threshold: the threshold 4 is larger than number_of_shares 3",
    ]);
    // Signstar accepts a threshold of 1 (NonZeroUsize); the native rule refuses it, and convert says so.
    expect(problems(fixture("sss-threshold-one.yaml"))).toEqual([
      "system.admin_secret_handling.shamirs-secret-sharing.threshold: a threshold of 1 lets one shareholder alone unlock the secret; use at least 2",
    ]);
    expect(() => parseConfig(fixture("sss-threshold-one.yaml"), "x.yaml")).toThrow(ConfigError);
    expect(problems(SYSTEM.replace("plaintext\n  non", "{shamirs-secret-sharing: {number_of_shares: 0, threshold: 0}}\n  non"))).toEqual([
      "system.admin_secret_handling.shamirs-secret-sharing.number_of_shares: 0 is out of range (1 to 255)",
      "system.admin_secret_handling.shamirs-secret-sharing.threshold: 0 is out of range (1 to 255)",
    ]);
  });

  it("locates every problem, all at once", () => {
    expect(problems(fixture("problems-located.yaml"))).toEqual([
      "system.non_admin_secret_handling: is required but missing",
      "nethsm.mappings[1].backup.nethsm_user: unknown key (allowed here: backend_user, system_user, ssh_authorized_key)",
      "nethsm.mappings[3].signing.tag: expected a string, found an integer",
    ]);
  });

  it("Signstar's duplicate and administrator rules apply to YAML as to TOML", () => {
    const yaml = `${SYSTEM}nethsm:\n  connections: [{url: "https://h.example.org/", tls_security: Unsafe}]\n  mappings:\n    - admin: ns1~admin\n    - backup: {backend_user: b, system_user: u1, ssh_authorized_key: ${KEYS.k1}}\n    - backup: {backend_user: b, system_user: u1, ssh_authorized_key: ${KEYS.k2}}\n`;
    expect(problems(yaml)).toEqual([
      'nethsm.mappings[2].backup.system_user: duplicate system user ID "u1" (also used at nethsm.mappings[1].backup.system_user)',
      'nethsm.mappings: no system-wide administrator user (add a mapping admin = "<name>")',
      'nethsm.mappings[2].backup.backend_user: duplicate backend user ID "b" (also used at nethsm.mappings[1].backup.backend_user)',
    ]);
  });
});

describe("telling TOML from YAML by content", () => {
  it("reads the first significant line, and the file name only when the content says nothing", () => {
    expect(detectFormat("# c\n\n[system]\n")).toBe("toml");
    expect(detectFormat('"quoted key" = 1\n')).toBe("toml");
    expect(detectFormat("a.b = 1\n")).toBe("toml");
    expect(detectFormat("system:\n  iteration: 1\n")).toBe("yaml");
    expect(detectFormat("---\nsystem: {}\n")).toBe("yaml");
    expect(detectFormat('"a=b": 1\n')).toBe("yaml");
    expect(detectFormat("{system: {}}\n")).toBe("yaml");
    expect(detectFormat("# only a comment\n", "x.yaml")).toBe("yaml");
    expect(detectFormat("", "x.yml")).toBe("yaml");
    expect(detectFormat("", "x.toml")).toBe("toml");
  });

  it("a YAML file named .toml is read as YAML, a TOML file named .yaml as TOML", () => {
    expect(parseAnyConfig(fixture("no-backend-plaintext.yaml"), "config.toml").layout).toBe("signstar-yaml");
    const toml = renderConfig(parseConfig(fixture("no-backend-plaintext.yaml"), "x.yaml"));
    expect(parseAnyConfig(toml, "config.yaml").layout).toBe("native");
  });
});

describe("search: config.toml and config.yaml", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), "signstar-yaml-search-"));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });
  const place = (p: string, content: string): string => {
    const full = path.join(root, p);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
    return full;
  };

  it("a YAML file in a higher-priority directory wins over a TOML file in a lower one", async () => {
    place("/usr/share/signstar/config.toml", "[system]\niteration = 9\nadmin_secret_handling = \"plaintext\"\nnon_admin_secret_handling = \"plaintext\"\n");
    const yaml = place("/run/signstar/config.yaml", fixture("no-backend-plaintext.yaml"));
    const { config, path: p } = await loadConfig({ root, env: {} });
    expect(p).toBe(yaml);
    expect(config.system.iteration).toBe(1);
  });

  it("both in one directory, same model: the TOML file is used, with one note", async () => {
    const yamlText = fixture("all-kinds.yaml");
    const toml = place("/etc/signstar/config.toml", renderConfig(parseConfig(yamlText, "x.yaml")));
    const yaml = place("/etc/signstar/config.yaml", yamlText);
    const notes: string[] = [];
    const { path: p } = await loadConfig({ root, env: {}, note: (l) => notes.push(l) });
    expect(p).toBe(toml);
    expect(notes).toEqual([`note: ${toml} and ${yaml} describe the same configuration; using ${toml} (remove one of them)`]);
    const out = await signstarConfigCommand("check", { root, env: {} });
    expect(out.exitCode).toBe(0);
    expect(out.stderr).toBe(`${notes[0]}\n`);
    expect(out.stdout.split("\n")[0]).toBe(`${toml}: valid (native layout)`);
  });

  it("both in one directory, different models: an error naming both files and the first difference", async () => {
    const yamlText = fixture("all-kinds.yaml");
    const toml = place("/etc/signstar/config.toml", renderConfig(parseConfig(yamlText, "x.yaml")).replace("iteration = 7", "iteration = 8"));
    const yaml = place("/etc/signstar/config.yaml", yamlText);
    const err = await loadConfig({ root, env: {}, note: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(
      `${toml} and ${yaml} are both present and describe different configurations (first difference: system.iteration); keep one of them`,
    );
  });

  it("both in one directory, one of them invalid: that file's problems", async () => {
    place("/etc/signstar/config.toml", "[system]\niteration = 1\nadmin_secret_handling = \"plaintext\"\nnon_admin_secret_handling = \"plaintext\"\n");
    const yaml = place("/etc/signstar/config.yaml", fixture("yubihsm2.yaml"));
    const out = await signstarConfigCommand("check", { root, env: {} });
    expect(out.exitCode).toBe(ExitCode.Config);
    expect(out.stdout).toBe("");
    expect(out.stderr.split("\n")[0]).toBe(`${yaml}: 1 problem`);
  });

  it("convert prints native TOML for a YAML file (SIGNSTAR_CONFIG), which checks clean", async () => {
    const yaml = place("/elsewhere/signstar.yaml", fixture("all-kinds.yaml"));
    const out = await signstarConfigCommand("convert", { env: { SIGNSTAR_CONFIG: yaml } });
    expect(out.exitCode).toBe(0);
    expect(out.stderr).toBe("");
    const toml = place("/elsewhere/converted.toml", out.stdout);
    const check = await signstarConfigCommand("check", { path: toml });
    expect(check.exitCode).toBe(0);
    expect(check.stdout.split("\n")[0]).toBe(`${toml}: valid (native layout)`);
    expect((await loadConfig({ path: toml })).config).toEqual((await loadConfig({ path: yaml })).config);
  });
});
