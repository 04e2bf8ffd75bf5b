import { describe, expect, it } from "vitest";
import {
  adminSecretHandling,
  authorizedKey,
  httpsUrl,
  keyId,
  keySetup,
  modulePath,
  namespaceId,
  namespaceOf,
  netHsmUserId,
  pkcs11KeySelector,
  secretHandling,
  sshKeyData,
  systemUserId,
  systemWideUserId,
  tag,
  tlsSecurity,
  tokenSelector,
} from "../../lib/config/primitives.js";
import { InvalidValue } from "../../lib/config/problems.js";
import { ExitCode } from "../../lib/errors.js";
import { KEYS } from "./keys.js";

function message(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidValue);
    expect((e as InvalidValue).exitCode).toBe(ExitCode.Config);
    return (e as Error).message;
  }
  throw new Error("expected InvalidValue");
}

describe("NetHSM user ids (the cases of Signstar's nethsm/src/user.rs and signstar-config credentials.rs)", () => {
  it.each(["foo", "f", "1", "foo23", "foo~bar", "a~b", "1~bar", "foo23~bar5"])("accepts %j", (s) => {
    expect(netHsmUserId(s)).toBe(s);
  });
  it.each(["foo;-", "FOO", "~bar", "", "foo;-~bar\\", "foo~bar~baz", "FOO~bar", "foo~BAR", "foo~", "üser", "٣", "a".repeat(129)])(
    "rejects %j",
    (s) => {
      expect(message(() => netHsmUserId(s))).toBe(
        `the NetHSM user ID ${JSON.stringify(s.length > 80 ? `${s.slice(0, 79)}…` : s)} is invalid (use "name" or "namespace~name", each part 1 to 128 characters of a-z and 0-9)`,
      );
    },
  );
  it("system-wide ids reject a namespace", () => {
    expect(systemWideUserId("admin")).toBe("admin");
    expect(message(() => systemWideUserId("ns1~test"))).toBe('the NetHSM user ID "ns1~test" has a namespace, but this user must be system-wide');
  });
  it("namespaceOf splits at the ~", () => {
    expect(namespaceOf(netHsmUserId("ns1~alice"))).toBe("ns1");
    expect(namespaceOf(netHsmUserId("alice"))).toBeUndefined();
    expect(namespaceId("ns1")).toBe("ns1");
    expect(message(() => namespaceId("Ns1"))).toBe('the namespace "Ns1" is invalid (use 1 to 128 characters of a-z and 0-9)');
  });
});

describe("system user names", () => {
  it.each(["ssh-backup1", "A_b-1", "x".repeat(32)])("accepts %j", (s) => expect(systemUserId(s)).toBe(s));
  it.each(["üser", "", "a b", "x".repeat(33), "root:0", "a\nb"])("rejects %j", (s) => {
    expect(message(() => systemUserId(s))).toBe(
      `the system user name ${JSON.stringify(s)} is invalid (use 1 to 32 characters of A-Z, a-z, 0-9, "_" and "-")`,
    );
  });
});

describe("key ids and tags", () => {
  it("key ids are [a-z0-9]+", () => {
    expect(keyId("key1")).toBe("key1");
    for (const bad of ["key1#", "key~1", "", "Key1"]) {
      expect(message(() => keyId(bad))).toBe(`the key ID ${JSON.stringify(bad)} is invalid (use 1 to 128 characters of a-z and 0-9)`);
    }
  });
  it("tags follow the NetHSM ID rule", () => {
    expect(tag("tag1")).toBe("tag1");
    expect(tag("Release_2.x-1")).toBe("Release_2.x-1");
    for (const bad of ["", "-x", ".x", "a b", "t".repeat(129)]) {
      expect(message(() => tag(bad))).toMatch(/^the tag ".*" is invalid \(use 1 to 128 characters/);
    }
  });
});

describe("https URLs", () => {
  it.each([
    ["https://127.0.0.1:8080", "https://127.0.0.1:8080/"],
    ["https://localhost:8443/api/v1/", "https://localhost:8443/api/v1/"],
    ["HTTPS://NetHSM.Example.org:443/api/v1", "https://nethsm.example.org/api/v1"],
  ])("normalises %j", (input, out) => expect(httpsUrl(input)).toBe(out));
  it.each([
    ["http://localhost/", "it must use https"],
    ["https://user:pw@localhost/", "it must not contain a user or password"],
    ["https://user@localhost/", "it must not contain a user or password"],
    ["https://localhost/?a=1", "it must not contain a query"],
    ["https://localhost/?", "it must not contain a query"],
    ["https://localhost/#x", "it must not contain a fragment"],
    ["not a url", "not a URL"],
  ])("rejects %j", (input, why) => expect(message(() => httpsUrl(input))).toBe(`the URL ${JSON.stringify(input)} is invalid: ${why}`));
});

/** An SSH wire-format blob from strings/byte arrays (each length-prefixed). */
function blob(...fields: (string | Buffer)[]): string {
  return Buffer.concat(
    fields.map((f) => {
      const b = typeof f === "string" ? Buffer.from(f, "latin1") : f;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return Buffer.concat([len, b]);
    }),
  ).toString("base64");
}

describe("OpenSSH authorized keys", () => {
  it.each(Object.entries(KEYS))("accepts the ssh-keygen key %s", (_name, line) => {
    const k = authorizedKey(line);
    expect(k.line).toBe(line);
    expect(k.options).toBe("");
    expect(`${k.keyType} ${k.blob} ${k.comment}`).toBe(line);
  });
  it("parses options, including quoted spaces and escaped quotes", () => {
    const line = `restrict,command="echo \\"hi there\\"",from="10.0.0.1" ${KEYS.k1}`;
    const k = authorizedKey(line);
    expect(k.options).toBe('restrict,command="echo \\"hi there\\"",from="10.0.0.1"');
    expect(k.keyType).toBe("ssh-ed25519");
    expect(k.comment).toBe("user1@example.org");
  });
  it("compares keys by key data, not comment or options", () => {
    const [type, data] = KEYS.k2.split(" ");
    expect(sshKeyData(authorizedKey(`${type} ${data} a@b`))).toBe(sshKeyData(authorizedKey(`restrict ${type} ${data} c d`)));
  });
  it("accepts security-key types (blob built by hand)", () => {
    const ed = authorizedKey(`sk-ssh-ed25519@openssh.com ${blob("sk-ssh-ed25519@openssh.com", Buffer.alloc(32, 7), "ssh:")} yubikey`);
    expect(ed.keyType).toBe("sk-ssh-ed25519@openssh.com");
    const point = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]);
    const ec = authorizedKey(`sk-ecdsa-sha2-nistp256@openssh.com ${blob("sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", point, "ssh:")}`);
    expect(ec.comment).toBe("");
  });
  const ed25519Blob = KEYS.k1.split(" ")[1]!;
  it.each([
    ["foo", "unsupported key type \"foo\" (supported: ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)"],
    ["", "no key"],
    [`ssh-rsa ${ed25519Blob} x`, 'the key data is of type "ssh-ed25519", not "ssh-rsa"'],
    [`ssh-dss ${ed25519Blob}`, 'unsupported key type "ssh-dss" (supported: ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)'],
    ["ssh-ed25519", "no key data"],
    ["ssh-ed25519 AAAA!!!!", "the key data is not base64"],
    [`ssh-ed25519 ${blob("ssh-ed25519", Buffer.alloc(31))}`, "an Ed25519 public key must be 32 bytes"],
    [`ssh-ed25519 ${blob("ssh-ed25519", Buffer.alloc(32), "extra")}`, "trailing bytes after the key data"],
    [`ssh-ed25519 ${blob("ssh-ed25519").slice(0, -4)}`, "truncated key data (key type)"],
    [`ecdsa-sha2-nistp384 ${KEYS.ec256.split(" ")[1]}`, 'the key data is of type "ecdsa-sha2-nistp256", not "ecdsa-sha2-nistp384"'],
    [`ecdsa-sha2-nistp256 ${blob("ecdsa-sha2-nistp256", "nistp384", Buffer.alloc(65, 4))}`, 'the curve "nistp384" does not match the key type'],
    [`restrict,command="x ${KEYS.k1}`, "unterminated quote in the options"],
    [`a,,b ${KEYS.k1}`, 'malformed options "a,,b"'],
    [`${KEYS.k1}\n${KEYS.k2}`, "it must be a single line"],
  ])("rejects %j", (line, why) => {
    expect(message(() => authorizedKey(line))).toMatch(new RegExp(`^the SSH authorized key ".*" is invalid: ${why.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
  });
  it("rejects RSA keys below 1024 bits", () => {
    const n = Buffer.concat([Buffer.from([0x00, 0xc0]), Buffer.alloc(63, 1)]); // 512-bit modulus
    const line = `ssh-rsa ${blob("ssh-rsa", Buffer.from([1, 0, 1]), n)}`;
    expect(message(() => authorizedKey(line))).toMatch(/the RSA key has 512 bits; at least 1024 are required$/);
  });
  it("rejects a non-canonical base64 blob", () => {
    const padded = KEYS.ec256.split(" ")[1]!; // 104 bytes: one "=" of padding, the last digit has 2 unused bits
    expect(padded.endsWith("=") && !padded.endsWith("==")).toBe(true);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const last = padded[padded.length - 2]!;
    const b = `${padded.slice(0, -2)}${alphabet[alphabet.indexOf(last) ^ 1]}=`;
    expect(Buffer.from(b, "base64").equals(Buffer.from(padded, "base64"))).toBe(true);
    expect(message(() => authorizedKey(`ecdsa-sha2-nistp256 ${b}`))).toMatch(/is invalid: the key data is not canonical base64$/);
  });
});

const ED = { key_type: "Curve25519", key_mechanisms: ["EdDsaSignature"], signature_type: "EdDsa", key_context: { openpgp: { user_ids: ["A <a@example.org>"], version: "4" } } };

describe("key setups", () => {
  it.each([
    [{ ...ED }, "Curve25519"],
    [{ ...ED, key_type: "EcP256", key_mechanisms: ["EcdsaSignature"], signature_type: "EcdsaP256" }, "EcP256"],
    [{ ...ED, key_type: "EcP384", key_mechanisms: ["EcdsaSignature"], signature_type: "EcdsaP384" }, "EcP384"],
    [{ ...ED, key_type: "EcP521", key_mechanisms: ["EcdsaSignature"], signature_type: "EcdsaP521" }, "EcP521"],
    [{ ...ED, key_type: "Rsa", key_mechanisms: ["RsaSignaturePkcs1"], signature_type: "Pkcs1", key_length: 2048 }, "Rsa"],
  ])("accepts a valid combination (%#)", (raw, type) => {
    const k = keySetup(raw);
    expect(k.keyType).toBe(type);
    expect(k.openpgp).toEqual({ userIds: ["A <a@example.org>"], version: 4 });
    expect(k.keyLength).toBe(type === "Rsa" ? 2048 : undefined);
  });
  it.each(["4", "v4", "V4", "OpenPGPv4"])("accepts OpenPGP version %j", (v) => {
    expect(keySetup({ ...ED, key_context: { openpgp: { user_ids: ["x"], version: v } } }).openpgp.version).toBe(4);
  });
  it.each([
    [{ ...ED, key_mechanisms: ["EcdsaSignature"] }, "key_setup.key_mechanisms[0]: the key mechanism EcdsaSignature does not fit key type Curve25519 (use EdDsaSignature)"],
    [{ ...ED, key_type: "EcP256", key_mechanisms: ["EcdsaSignature"], signature_type: "EcdsaP384" }, "key_setup.signature_type: the signature type EcdsaP384 does not fit key type EcP256 (use EcdsaP256)"],
    [{ ...ED, key_type: "Rsa", key_mechanisms: ["RsaSignaturePkcs1"], signature_type: "Pkcs1" }, "key_setup.key_length: RSA keys need key_length (at least 2048)"],
    [{ ...ED, key_type: "Rsa", key_mechanisms: ["RsaSignaturePkcs1"], signature_type: "Pkcs1", key_length: 1024 }, "key_setup.key_length: the RSA key length 1024 is out of range (2048 to 16384)"],
    [{ ...ED, key_type: "EcP256", key_mechanisms: ["EcdsaSignature"], signature_type: "EcdsaP256", key_length: 256 }, "key_setup.key_length: key_length must not be set for key type EcP256"],
    [{ ...ED, key_length: 255 }, "key_setup.key_length: key_length must not be set for key type Curve25519"],
    [{ ...ED, key_type: "EcP224" }, 'key_setup.key_type: unsupported key type "EcP224" (supported: Curve25519, EcP256, EcP384, EcP521, Rsa)'],
    [{ ...ED, key_mechanisms: [] }, "key_setup.key_mechanisms: must not be empty"],
    [{ ...ED, key_mechanisms: ["EdDsaSignature", "EdDsaSignature"] }, 'key_setup.key_mechanisms[1]: duplicate key mechanism "EdDsaSignature"'],
    [{ ...ED, key_mechanisms: ["RsaSignaturePssSha256"] }, 'key_setup.key_mechanisms[0]: unsupported key mechanism "RsaSignaturePssSha256" (supported: EdDsaSignature, EcdsaSignature, RsaSignaturePkcs1)'],
    [{ ...ED, key_context: { openpgp: { user_ids: ["x"], version: "5" } } }, 'key_setup.key_context.openpgp.version: unknown OpenPGP version "5" (use "4")'],
    [{ ...ED, key_context: { openpgp: { user_ids: ["x"], version: "v6" } } }, 'key_setup.key_context.openpgp.version: OpenPGP version 6 is not supported (use "4")'],
    [{ ...ED, key_context: { openpgp: { user_ids: ["x", "x"], version: "4" } } }, 'key_setup.key_context.openpgp.user_ids[1]: duplicate OpenPGP user ID "x"'],
    [{ ...ED, key_context: { openpgp: { user_ids: [], version: "4" } } }, "key_setup.key_context.openpgp.user_ids: must not be empty"],
    [{ ...ED, key_context: { openpgp: { user_ids: ["é".repeat(2049)], version: "4" } } }, "key_setup.key_context.openpgp.user_ids[0]: an OpenPGP user ID must not exceed 4096 bytes"],
    [{ ...ED, key_context: { raw: {} } }, "key_setup.key_context.raw: the raw key context is not supported (signing keys here are OpenPGP v4 keys: use openpgp)"],
    [{ ...ED, key_id: "key1" }, "key_setup.key_id: unknown key (allowed here: key_type, key_mechanisms, signature_type, key_length, key_context)"],
  ])("rejects an invalid setup (%#)", (raw, msg) => {
    expect(message(() => keySetup(raw))).toBe(msg);
  });
  it("accepts a user ID of exactly 4096 bytes", () => {
    expect(keySetup({ ...ED, key_context: { openpgp: { user_ids: ["é".repeat(2048)], version: "4" } } }).openpgp.userIds[0]).toHaveLength(2048);
  });
});

describe("TLS security, secret handling, PKCS#11 selectors, module path", () => {
  it("TLS security", () => {
    expect(tlsSecurity("Unsafe")).toEqual({ kind: "Unsafe" });
    expect(tlsSecurity("Native")).toEqual({ kind: "Native" });
    const hex = "AB".repeat(32);
    const colons = Array(32).fill("ab").join(":");
    expect(tlsSecurity({ fingerprints: { sha256: [hex] } })).toEqual({ kind: "Fingerprints", sha256: ["ab".repeat(32)] });
    expect(tlsSecurity({ fingerprints: { sha256: [colons, "cd".repeat(32)] } }).kind).toBe("Fingerprints");
    expect(message(() => tlsSecurity("native"))).toBe('tls_security: unknown TLS security "native" (use "Unsafe", "Native" or { fingerprints = { sha256 = [...] } })');
    expect(message(() => tlsSecurity({ fingerprints: { sha256: ["abc"] } }))).toBe(
      'tls_security.fingerprints.sha256[0]: the SHA-256 fingerprint "abc" is invalid (64 hex digits, optionally in colon-separated pairs)',
    );
    expect(message(() => tlsSecurity({ fingerprints: { sha256: [] } }))).toBe("tls_security.fingerprints.sha256: must not be empty");
    expect(message(() => tlsSecurity({ fingerprints: { sha256: [hex, hex.toLowerCase()] } }))).toBe(
      `tls_security.fingerprints.sha256[1]: duplicate fingerprint "${"ab".repeat(32)}"`,
    );
  });
  it("admin secret handling (SSS bounds)", () => {
    expect(adminSecretHandling("plaintext")).toEqual({ kind: "plaintext" });
    expect(adminSecretHandling({ "shamirs-secret-sharing": { number_of_shares: 255, threshold: 2 } })).toEqual({
      kind: "shamirs-secret-sharing",
      numberOfShares: 255,
      threshold: 2,
    });
    const sss = (n: number, t: number): string => message(() => adminSecretHandling({ "shamirs-secret-sharing": { number_of_shares: n, threshold: t } }));
    expect(sss(3, 1)).toBe("admin_secret_handling.shamirs-secret-sharing.threshold: 1 is out of range (2 to 255)");
    expect(sss(256, 2)).toBe("admin_secret_handling.shamirs-secret-sharing.number_of_shares: 256 is out of range (2 to 255)");
    expect(sss(3, 4)).toBe("admin_secret_handling.shamirs-secret-sharing.threshold: the threshold 4 is larger than number_of_shares 3");
    expect(message(() => adminSecretHandling("shamirs-secret-sharing"))).toBe(
      "admin_secret_handling: write { shamirs-secret-sharing = { number_of_shares = N, threshold = T } } to use Shamir's Secret Sharing",
    );
    expect(secretHandling("systemd-creds")).toBe("systemd-creds");
    expect(message(() => secretHandling("vault"))).toBe('unknown secret handling "vault" (use "plaintext" or "systemd-creds")');
  });
  it("token and key selectors", () => {
    expect(tokenSelector({ label: "a".repeat(32) })).toEqual({ label: "a".repeat(32) });
    expect(tokenSelector({ serial: "0123456789abcdef" })).toEqual({ serial: "0123456789abcdef" });
    expect(message(() => tokenSelector({ label: "a".repeat(33) }))).toBe(
      `token.label: the token label "${"a".repeat(33)}" is invalid (1 to 32 characters of A-Z, a-z, 0-9, ".", "_" and "-")`,
    );
    expect(message(() => tokenSelector({ serial: "0123456789abcdef0" }))).toBe(
      'token.serial: the token serial "0123456789abcdef0" is invalid (1 to 16 characters of A-Z, a-z and 0-9)',
    );
    expect(message(() => tokenSelector({ label: "a", serial: "b" }))).toBe("token: expected exactly one of label, serial; found label, serial");
    expect(pkcs11KeySelector({ id: "0A1b" })).toEqual({ id: "0a1b" });
    expect(pkcs11KeySelector({ label: "signing1" })).toEqual({ label: "signing1" });
    expect(message(() => pkcs11KeySelector({ id: "abc" }))).toBe('key.id: the key id "abc" is invalid (an even number of hex digits, 1 to 64 bytes)');
  });
  it("module paths are absolute and normalised", () => {
    expect(modulePath("/usr/lib/softhsm/libsofthsm2.so")).toBe("/usr/lib/softhsm/libsofthsm2.so");
    expect(message(() => modulePath("libsofthsm2.so"))).toBe('the module path "libsofthsm2.so" must be absolute');
    expect(message(() => modulePath("/usr/lib/../lib/x.so"))).toBe('the module path "/usr/lib/../lib/x.so" must be normalised (no "..", "." or repeated "/")');
  });
});
