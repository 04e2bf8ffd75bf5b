import { describe, expect, it } from "vitest";
import type { Config } from "../../lib/config/model.js";
import { netHsmUserId, systemUserId } from "../../lib/config/primitives.js";
import { ConfigError } from "../../lib/config/problems.js";
import { ExitCode } from "../../lib/errors.js";
import {
  GENERATED_PASSPHRASE_LENGTH,
  adminCredentials,
  adminCredentialsSpec,
  generateAdminCredentials,
  parseAdminCredentials,
  serializeAdminCredentials,
  soPinFor,
  type AdminCredentials,
} from "../../lib/secrets/admin-credentials.js";

/** Signstar's signstar-config/tests/fixtures/admin-creds-simple.toml (archlinux/signstar d6ad4e9). */
const FIXTURE = `iteration = 1
backup_passphrase = "backup-passphrase"
unlock_passphrase = "unlock-passphrase"

[[administrators]]
name = "admin"
passphrase = "admin-passphrase"

[[administrators]]
name = "admin2"
passphrase = "other-admin-passphrase"

[[namespace_administrators]]
name = "ns1~admin"
passphrase = "ns1-admin-passphrase"
`;

const PKCS11 = `iteration = 3

[[pkcs11_tokens]]
so_pin = "so-pin-of-token-one"

[pkcs11_tokens.token]
label = "signing1"

[[pkcs11_tokens]]
so_pin = "so-pin-of-token-two"

[pkcs11_tokens.token]
serial = "abc123"
`;

/** Runs parse and returns the thrown ConfigError. */
function failure(text: string): ConfigError {
  try {
    parseAdminCredentials(text);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected parseAdminCredentials to fail");
}

function messages(text: string): string[] {
  return failure(text).problems.map((p) => `${p.location}: ${p.message}`);
}

describe("admin credentials TOML (NetHSM form, as Signstar's fixture)", () => {
  it("parses Signstar's fixture into the model", () => {
    const creds = parseAdminCredentials(FIXTURE);
    expect(creds.iteration).toBe(1);
    expect(creds.nethsm?.backupPassphrase).toBe("backup-passphrase");
    expect(creds.nethsm?.unlockPassphrase).toBe("unlock-passphrase");
    expect(creds.nethsm?.administrators).toEqual([
      { name: "admin", passphrase: "admin-passphrase" },
      { name: "admin2", passphrase: "other-admin-passphrase" },
    ]);
    expect(creds.nethsm?.namespaceAdministrators).toEqual([{ name: "ns1~admin", passphrase: "ns1-admin-passphrase" }]);
    expect(creds.pkcs11Tokens).toBeUndefined();
  });

  it("serializes the fixture byte for byte", () => {
    expect(serializeAdminCredentials(parseAdminCredentials(FIXTURE))).toBe(FIXTURE);
  });

  it("round-trips passphrases with quotes, backslashes, control characters and non-ASCII", () => {
    const odd = 'a"b\\c\u0001\u007f\ttäst-🔑-x';
    const creds = adminCredentials({
      iteration: 7,
      nethsm: {
        backupPassphrase: odd,
        unlockPassphrase: "unlock-unlock",
        administrators: [{ name: netHsmUserId("admin"), passphrase: `${odd}2` }],
        namespaceAdministrators: [],
      },
    });
    const text = serializeAdminCredentials(creds);
    expect(text).not.toContain("namespace_administrators");
    expect(parseAdminCredentials(text)).toEqual(creds);
  });

  it("rejects a document without any administrator", () => {
    const text = FIXTURE.replace(/\[\[administrators\]\][^[]*/g, "").replace('unlock_passphrase = "unlock-passphrase"', 'unlock_passphrase = "unlock-passphrase"\nadministrators = []');
    expect(messages(text)).toEqual(["administrators: There is no top-level administrator but at least one is required"]);
  });

  it('requires the default administrator "admin"', () => {
    const text = FIXTURE.replace('name = "admin"\n', 'name = "admin3"\n');
    expect(messages(text)).toEqual(['administrators: The default top-level administrator "admin" is missing']);
  });

  it("requires every passphrase to have at least 10 bytes, with Signstar's messages", () => {
    const text = FIXTURE.replace('"backup-passphrase"', '"short"')
      .replace('"unlock-passphrase"', '"123456789"')
      .replace('"other-admin-passphrase"', '"x"')
      .replace('"ns1-admin-passphrase"', '"ns1"');
    expect(messages(text)).toEqual([
      "backup_passphrase: The passphrase for backups is too short (should be at least 10 characters)",
      "unlock_passphrase: The passphrase for unlocking is too short (should be at least 10 characters)",
      "administrators[1].passphrase: The passphrase for user admin2 is too short (should be at least 10 characters)",
      "namespace_administrators[0].passphrase: The passphrase for user ns1~admin is too short (should be at least 10 characters)",
    ]);
  });

  it("counts bytes, not characters (9 ASCII + one 2-byte character passes)", () => {
    const creds = parseAdminCredentials(FIXTURE.replace('"backup-passphrase"', '"123456789ä"'));
    expect(creds.nethsm?.backupPassphrase).toBe("123456789ä");
    expect(messages(FIXTURE.replace('"backup-passphrase"', '"1234ää"'))).toEqual([
      "backup_passphrase: The passphrase for backups is too short (should be at least 10 characters)",
    ]);
  });

  it("rejects namespaced top-level administrators and namespace administrators without namespace", () => {
    expect(messages(FIXTURE.replace('name = "admin2"', 'name = "ns1~admin2"'))).toEqual([
      'administrators[1].name: the NetHSM user ID "ns1~admin2" has a namespace, but this user must be system-wide',
    ]);
    expect(messages(FIXTURE.replace('name = "ns1~admin"', 'name = "nsadmin"'))).toEqual([
      'namespace_administrators[0].name: the namespace administrator "nsadmin" has no namespace (use "namespace~name")',
    ]);
  });

  it("rejects duplicate administrators and invalid user ids", () => {
    expect(messages(FIXTURE.replace('name = "admin2"', 'name = "admin"'))).toEqual(['administrators[1].name: the duplicate administrator "admin"']);
    expect(messages(FIXTURE.replace('name = "admin2"', 'name = "Admin2"'))[0]).toMatch(/^administrators\[1\]\.name: the NetHSM user ID "Admin2" is invalid/);
  });

  it("reports missing, mistyped and unknown keys with their location", () => {
    expect(messages(FIXTURE.replace("iteration = 1\n", ""))).toEqual(["iteration: is required but missing"]);
    expect(messages(FIXTURE.replace("iteration = 1", 'iteration = "1"'))).toEqual(["iteration: expected an integer, found a string"]);
    expect(messages(FIXTURE.replace("iteration = 1", "iteration = -1"))).toEqual(["iteration: -1 is out of range (0 to 4294967295)"]);
    expect(messages(FIXTURE.replace("iteration = 1", "iteration = 1\nextra = true"))).toEqual([
      "extra: unknown key (allowed here: iteration, backup_passphrase, unlock_passphrase, administrators, namespace_administrators, pkcs11_tokens)",
    ]);
    expect(messages("iteration = 1\nunlock_passphrase = \"unlock-passphrase\"\n")).toEqual([
      "backup_passphrase: is required but missing",
      "administrators: is required but missing",
    ]);
  });

  it("rejects a document with neither NetHSM nor PKCS#11 credentials", () => {
    expect(messages("iteration = 1\n")).toEqual(["(top level): neither NetHSM credentials nor [[pkcs11_tokens]] are present"]);
  });

  it("collects every problem and summarises them in one line with exit code Config", () => {
    const e = failure(FIXTURE.replace('"backup-passphrase"', '"short"').replace('name = "admin"\n', 'name = "admin3"\n'));
    expect(e.exitCode).toBe(ExitCode.Config);
    expect(e.problems).toHaveLength(2);
    expect(e.message).toBe("admin credentials: 2 problems; first: backup_passphrase: The passphrase for backups is too short (should be at least 10 characters)");
    expect(e.message).not.toContain("\n");
  });

  it("never puts a secret into a TOML syntax error", () => {
    const e = failure('iteration = 1\nbackup_passphrase = "very-secret-passphrase\n');
    expect(e.message).toMatch(/^admin credentials: invalid TOML at line 2, column \d+: /);
    expect(e.message).not.toContain("very-secret");
    expect(e.problems).toEqual([]);
  });

  it("never puts a secret into a validation message", () => {
    const e = failure(FIXTURE.replace('"other-admin-passphrase"', '"tiny-pw"'));
    expect(JSON.stringify(e.problems) + e.message).not.toContain("tiny-pw");
  });
});

describe("admin credentials TOML (PKCS#11 form)", () => {
  it("parses [[pkcs11_tokens]] with label or serial selectors and round-trips", () => {
    const creds = parseAdminCredentials(PKCS11);
    expect(creds).toEqual({
      iteration: 3,
      pkcs11Tokens: [
        { token: { label: "signing1" }, soPin: "so-pin-of-token-one" },
        { token: { serial: "abc123" }, soPin: "so-pin-of-token-two" },
      ],
    });
    expect(creds.nethsm).toBeUndefined();
    expect(serializeAdminCredentials(creds)).toBe(PKCS11);
    expect(soPinFor(creds, { serial: "abc123" })).toBe("so-pin-of-token-two");
    expect(soPinFor(creds, { label: "abc123" })).toBeUndefined();
  });

  it("accepts NetHSM and PKCS#11 credentials in one document", () => {
    const both = `${FIXTURE}\n${PKCS11.replace("iteration = 3\n\n", "")}`;
    const creds = parseAdminCredentials(both);
    expect(creds.nethsm?.administrators).toHaveLength(2);
    expect(creds.pkcs11Tokens).toHaveLength(2);
    expect(serializeAdminCredentials(creds)).toBe(both);
  });

  it("validates SO PINs, token selectors and duplicates", () => {
    expect(messages(PKCS11.replace('"so-pin-of-token-one"', '"1234"'))).toEqual([
      'pkcs11_tokens[0].so_pin: The SO PIN for token label "signing1" is too short (should be at least 10 characters)',
    ]);
    expect(messages(PKCS11.replace('"so-pin-of-token-one"', `"${"x".repeat(256)}"`))).toEqual([
      'pkcs11_tokens[0].so_pin: The SO PIN for token label "signing1" is too long (should be at most 255 bytes)',
    ]);
    expect(messages(PKCS11.replace('serial = "abc123"', 'label = "signing1"'))).toEqual(['pkcs11_tokens[1].token: the duplicate token label "signing1"']);
    expect(messages(PKCS11.replace('serial = "abc123"', 'serial = "a b"'))[0]).toMatch(/^pkcs11_tokens\[1\]\.token\.serial: the token serial "a b" is invalid/);
    expect(messages(PKCS11.replace('so_pin = "so-pin-of-token-two"\n', ""))).toEqual(["pkcs11_tokens[1].so_pin: is required but missing"]);
  });
});

describe("generateAdminCredentials", () => {
  const strong = /^[A-Za-z0-9]+$/;

  it("makes strong random passphrases for every administrator and token, adding admin", () => {
    const creds = generateAdminCredentials({
      iteration: 4,
      nethsm: { administrators: [netHsmUserId("ns1~admin"), netHsmUserId("other")] },
      pkcs11Tokens: [{ label: "tok" }],
    });
    expect(creds.iteration).toBe(4);
    expect(creds.nethsm?.administrators.map((a) => a.name)).toEqual(["admin", "other"]);
    expect(creds.nethsm?.namespaceAdministrators.map((a) => a.name)).toEqual(["ns1~admin"]);
    const secrets = [
      creds.nethsm!.backupPassphrase,
      creds.nethsm!.unlockPassphrase,
      ...creds.nethsm!.administrators.map((a) => a.passphrase),
      ...creds.nethsm!.namespaceAdministrators.map((a) => a.passphrase),
      ...creds.pkcs11Tokens!.map((t) => t.soPin),
    ];
    expect(secrets).toHaveLength(6);
    for (const s of secrets) {
      expect(s).toHaveLength(GENERATED_PASSPHRASE_LENGTH);
      expect(s).toMatch(strong);
    }
    expect(new Set(secrets).size).toBe(6);
    expect(parseAdminCredentials(serializeAdminCredentials(creds))).toEqual(creds);
  });

  it("keeps the passphrases of users still wanted and drops removed ones", () => {
    const first = generateAdminCredentials({ iteration: 1, nethsm: { administrators: [netHsmUserId("admin"), netHsmUserId("ns1~admin")] }, pkcs11Tokens: [{ serial: "s1" }] });
    const second = generateAdminCredentials(
      { iteration: 2, nethsm: { administrators: [netHsmUserId("ns2~admin")] }, pkcs11Tokens: [{ serial: "s1" }, { serial: "s2" }] },
      first,
    );
    expect(second.iteration).toBe(2);
    expect(second.nethsm?.unlockPassphrase).toBe(first.nethsm?.unlockPassphrase);
    expect(second.nethsm?.backupPassphrase).toBe(first.nethsm?.backupPassphrase);
    expect(second.nethsm?.administrators).toEqual(first.nethsm?.administrators);
    expect(second.nethsm?.namespaceAdministrators.map((a) => a.name)).toEqual(["ns2~admin"]);
    expect(second.nethsm?.namespaceAdministrators[0]?.passphrase).not.toBe(first.nethsm?.namespaceAdministrators[0]?.passphrase);
    expect(soPinFor(second, { serial: "s1" })).toBe(soPinFor(first, { serial: "s1" }));
    expect(soPinFor(second, { serial: "s2" })).toMatch(strong);
  });

  it("derives what to generate from a configuration's admin mappings", () => {
    const config = {
      system: { iteration: 9, adminSecretHandling: { kind: "plaintext" }, nonAdminSecretHandling: "plaintext", mappings: [] },
      nethsm: {
        connections: [],
        mappings: [
          { kind: "admin", backendUser: netHsmUserId("admin") },
          { kind: "admin", backendUser: netHsmUserId("ns1~boss") },
          { kind: "hermetic_metrics", systemUser: systemUserId("metrics"), backendUsers: { metricsUser: netHsmUserId("metrics"), operatorUsers: [] } },
        ],
      },
      pkcs11: { module: "/usr/lib/softhsm/libsofthsm2.so", mappings: [{ kind: "admin", token: { label: "tok1" } }] },
    } satisfies Config;
    expect(adminCredentialsSpec(config)).toEqual({
      iteration: 9,
      nethsm: { administrators: ["admin", "ns1~boss"] },
      pkcs11Tokens: [{ label: "tok1" }],
    });
    const creds: AdminCredentials = generateAdminCredentials(adminCredentialsSpec(config));
    expect(creds.nethsm?.namespaceAdministrators.map((a) => a.name)).toEqual(["ns1~boss"]);
  });
});
