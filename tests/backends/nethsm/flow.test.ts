/**
 * The client drives the stand-in through provision → users → namespaces → keys → tags → sign (every key type,
 * verified with node:crypto and openssl) → metrics → backup (read by the offline reader) → restore, with every
 * request and response validated against nethsm-api.yaml.
 */
import { execFileSync } from "node:child_process";
import { constants, createHash, createPublicKey, generateKeyPairSync, verify, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NetHsmHttpError,
  openNetHsmAdministration,
  openNetHsmSigningKey,
  type NetHsmClient,
  type NetHsmKeyType,
  type NetHsmMechanism,
} from "../../../lib/backends/nethsm/index.js";
import type { SigningKey } from "../../../lib/backends/backend.js";
import { decryptBackup, listItems, openBackup, parseBackup, parseUserRecord } from "../../../lib/nethsm-backup/index.js";
import type { KeySetup } from "../../../lib/config/model.js";
import { startStandIn } from "../../support/nethsm-standin/index.js";
import { ADMIN, BACKUP, clientObserver, connection, errorOf, startHarness, UNLOCK, type Harness } from "./harness.js";

const OPERATOR_PW = "operator-passphrase";
const NS_ADMIN_PW = "ns-admin-passphrase";
const NS_OP_PW = "ns-operator-passphrase";
const METRICS_PW = "metrics-passphrase";
const BACKUP_USER_PW = "backup-user-passphrase";

let h: Harness;
let admin: NetHsmClient;
let operator: NetHsmClient;
const data = Buffer.from("the quick brown fox signs a release");
const sha512 = createHash("sha512").update(data).digest();

function derFromRs(r: Uint8Array, s: Uint8Array): Buffer {
  const int = (x: Uint8Array): Buffer => {
    let b = Buffer.from(x);
    while (b.length > 1 && b[0] === 0) b = b.subarray(1);
    if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([2, b.length]), b]);
  };
  const body = Buffer.concat([int(r), int(s)]);
  return Buffer.concat([Buffer.from(body.length < 128 ? [0x30, body.length] : [0x30, 0x81, body.length]), body]);
}

beforeAll(async () => {
  h = await startHarness();
  admin = h.client({ user: "admin", passphrase: ADMIN });
  operator = h.client({ user: "operator1", passphrase: OPERATOR_PW });
});

afterAll(async () => {
  await h.close();
  expect(h.rec.problems).toEqual([]);
  expect(h.rec.unconsumed).toEqual([]);
});

describe("NetHSM end to end against the stand-in", () => {
  it("is Unprovisioned and gates everything else with 412 before authentication", async () => {
    const anon = h.client();
    expect(await anon.state()).toBe("Unprovisioned");
    expect(await anon.info()).toEqual({ vendor: "Nitrokey GmbH", product: "NetHSM" });
    expect(await anon.alive()).toBe(true);
    expect(await anon.ready()).toBe(false);
    const err = await errorOf(() => anon.listKeys());
    expect(err).toBeInstanceOf(NetHsmHttpError);
    expect((err as NetHsmHttpError).status).toBe(412);
    expect(err.message).toBe(
      `NetHSM ${h.standIn.url}: GET /keys: 412 precondition failed (the NetHSM is not in the state this operation needs): Service not available`,
    );
  });

  it("provisions; weak passphrases are refused without echoing them", async () => {
    const anon = h.client();
    h.rec.allowOnce(/^POST \/provision → 400: request body: data\/unlockPassphrase must NOT have fewer than 10 characters$/);
    const weak = await errorOf(() => anon.provision({ unlockPassphrase: "short", adminPassphrase: ADMIN, systemTime: new Date() }));
    expect((weak as NetHsmHttpError).status).toBe(400);
    expect(weak.message).toContain("unlock passphrase is not >= 10 and <= 200 characters");
    await anon.provision({ unlockPassphrase: UNLOCK, adminPassphrase: ADMIN, systemTime: new Date("2026-01-02T03:04:05Z") });
    expect(await anon.state()).toBe("Operational");
    expect(await anon.ready()).toBe(true);
    const t = await admin.getTime();
    expect(Math.abs(t.getTime() - Date.parse("2026-01-02T03:04:05Z"))).toBeLessThan(60_000);
    expect((await admin.systemInfo()).softwareVersion).toBe("4.0");
  });

  it("creates users of every role; names the conflict on a duplicate", async () => {
    expect(await admin.addUser({ userId: "operator1", realName: "Operator One", role: "Operator", passphrase: OPERATOR_PW })).toBe("operator1");
    await admin.addUser({ userId: "metrics1", realName: "Metrics", role: "Metrics", passphrase: METRICS_PW });
    await admin.addUser({ userId: "backup1", realName: "Backup", role: "Backup", passphrase: BACKUP_USER_PW });
    const generated = await admin.addUser({ realName: "Generated", role: "Operator", passphrase: "generated-pass" });
    expect(generated).toMatch(/^[0-9a-f]{20}$/);
    await admin.deleteUser(generated);
    const dup = await errorOf(() => admin.addUser({ userId: "operator1", realName: "x", role: "Operator", passphrase: OPERATOR_PW }));
    expect((dup as NetHsmHttpError).status).toBe(409);
    expect(dup.message).toMatch(/PUT \/users\/operator1: 409 conflict \(already exists\): user already exists$/);
    expect(await admin.listUsers()).toEqual(["admin", "backup1", "metrics1", "operator1"]);
    expect(await admin.getUser("operator1")).toEqual({ realName: "Operator One", role: "Operator" });
    expect(await operator.getUser("operator1")).toEqual({ realName: "Operator One", role: "Operator" });
    expect((await errorOf(() => operator.getUser("admin"))).message).toContain("403 access denied");
    const self = await errorOf(() => admin.deleteUser("admin"));
    expect(self.message).toContain("400 bad request: Users cannot delete themselves");
  });

  it("bootstraps a namespace: its users are inert until it exists", async () => {
    await admin.addUser({ userId: "ns1~admin", realName: "NS admin", role: "Administrator", passphrase: NS_ADMIN_PW });
    const nsAdmin = h.client({ user: "ns1~admin", passphrase: NS_ADMIN_PW });
    const inert = await errorOf(() => nsAdmin.listKeys());
    expect((inert as NetHsmHttpError).status).toBe(403);
    expect(inert.message).toContain("as ns1~admin: GET /keys: 403");
    await admin.addNamespace("ns1");
    expect(await admin.listNamespaces()).toEqual(["ns1"]);
    const again = await errorOf(() => admin.addNamespace("ns1"));
    expect(again.message).toContain("400 bad request: Namespace ns1 already exists");
    // after creation the R-Admin can no longer create users in it
    expect((await errorOf(() => admin.addUser({ userId: "ns1~late", realName: "x", role: "Operator", passphrase: NS_OP_PW }))).message).toContain("403");
    expect(await nsAdmin.listKeys()).toEqual([]);
    const nsOp = await nsAdmin.addUser({ userId: "ns1~operator", realName: "NS op", role: "Operator", passphrase: NS_OP_PW });
    expect(nsOp).toBe("ns1~operator");
    expect(await nsAdmin.addUser({ namespace: "ns1", realName: "gen", role: "Metrics", passphrase: NS_OP_PW })).toMatch(/^ns1~[0-9a-f]{20}$/);
    expect((await errorOf(() => nsAdmin.listNamespaces())).message).toContain("403");
    expect(await nsAdmin.listUsers()).toHaveLength(3);
    expect((await admin.listUsers()).filter((u) => u.startsWith("ns1~"))).toHaveLength(3);
    await nsAdmin.generateKey({ id: "nskey", type: "Curve25519", mechanisms: ["EdDSA_Signature"] });
    expect(await nsAdmin.listKeys()).toEqual(["nskey"]);
    expect(await admin.listKeys()).toEqual([]); // separate key spaces
    const nsOperator = h.client({ user: "ns1~operator", passphrase: NS_OP_PW });
    const sig = await nsOperator.sign("nskey", "EdDSA", data);
    const pub = createPublicKey((await nsOperator.getPublicKeyPem("nskey")));
    expect(verify(null, data, pub, sig)).toBe(true);
  });

  const keyIds: Record<string, { type: NetHsmKeyType; mechanisms: NetHsmMechanism[]; length?: number }> = {
    ed: { type: "Curve25519", mechanisms: ["EdDSA_Signature"] },
    p256: { type: "EC_P256", mechanisms: ["ECDSA_Signature"] },
    p384: { type: "EC_P384", mechanisms: ["ECDSA_Signature"] },
    p521: { type: "EC_P521", mechanisms: ["ECDSA_Signature"] },
    rsa: { type: "RSA", mechanisms: ["RSA_Signature_PKCS1", "RSA_Signature_PSS_SHA256", "RSA_Signature_PSS_SHA512"], length: 2048 },
  };

  it("generates keys of every signing type with a tag", async () => {
    for (const [id, spec] of Object.entries(keyIds)) {
      expect(await admin.generateKey({ id, ...spec, tags: ["signing"] })).toBe(id);
    }
    expect(await admin.listKeys()).toEqual(["ed", "p256", "p384", "p521", "rsa"]);
    expect(await admin.listKeys({ prefix: "p" })).toEqual(["p256", "p384", "p521"]);
    const k = await admin.getKey("p384");
    expect(k).toMatchObject({ type: "EC_P384", mechanisms: ["ECDSA_Signature"], restrictions: { tags: ["signing"] }, operations: 0 });
    const dup = await errorOf(() => admin.generateKey({ id: "ed", type: "Curve25519", mechanisms: ["EdDSA_Signature"] }));
    expect(dup.message).toContain("400 bad request: Key with id ed already exists");
    const mism = await errorOf(() => admin.generateKey({ type: "Curve25519", mechanisms: ["ECDSA_Signature"] }));
    expect(mism.message).toContain("Mechanism does not match key type");
    const gen = await errorOf(() => operator.generateKey({ type: "Curve25519", mechanisms: ["EdDSA_Signature"] }));
    expect((gen as NetHsmHttpError).status).toBe(403);
  });

  it("imports keys (JSON) whose public parts match the originals", async () => {
    const ed = generateKeyPairSync("ed25519");
    const edJwk = ed.privateKey.export({ format: "jwk" });
    await admin.importKey({ mechanisms: ["EdDSA_Signature"], key: { type: "Curve25519", data: Buffer.from(edJwk.d!, "base64url") } }, "imported-ed");
    expect(Buffer.from((await admin.getKey("imported-ed")).public!.data!, "base64")).toEqual(Buffer.from(edJwk.x!, "base64url"));
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ecJwk = ec.privateKey.export({ format: "jwk" });
    const id = await admin.importKey({ mechanisms: ["ECDSA_Signature"], key: { type: "EC_P256", data: Buffer.from(ecJwk.d!, "base64url") } });
    expect(id).toMatch(/^[0-9a-f]{20}$/);
    const point = Buffer.from((await admin.getKey(id)).public!.data!, "base64");
    expect(point).toEqual(Buffer.concat([Buffer.from([4]), Buffer.from(ecJwk.x!, "base64url"), Buffer.from(ecJwk.y!, "base64url")]));
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const j = rsa.privateKey.export({ format: "jwk" });
    await admin.importKey(
      { mechanisms: ["RSA_Signature_PKCS1"], key: { type: "RSA", primeP: Buffer.from(j.p!, "base64url"), primeQ: Buffer.from(j.q!, "base64url"), publicExponent: Buffer.from(j.e!, "base64url") } },
      "imported-rsa",
    );
    expect((await admin.getKey("imported-rsa")).public!.modulus).toBe(Buffer.from(j.n!, "base64url").toString("base64"));
    const again = await errorOf(() => admin.importKey({ mechanisms: ["EdDSA_Signature"], key: { type: "Curve25519", data: Buffer.alloc(32, 1) } }, "imported-ed"));
    expect((again as NetHsmHttpError).status).toBe(400); // code: 400, spec: 409
    await admin.deleteKey(id);
    expect((await errorOf(() => admin.getKey(id))).message).toContain(`GET /keys/${id}: 404 not found`);
  });

  it("enforces tag restrictions for operators", async () => {
    const err = await errorOf(() => operator.sign("ed", "EdDSA", data));
    expect((err as NetHsmHttpError).status).toBe(403);
    expect(err.message).toBe(`NetHSM ${h.standIn.url} as operator1: POST /keys/ed/sign: 403 access denied (wrong role, namespace, tag restriction or passphrase): tags restriction not met`);
    expect(await operator.listKeys({ filter: true })).toEqual(["imported-ed", "imported-rsa"]);
    expect(await admin.addUserTag("operator1", "signing")).toBe(true);
    expect(await admin.addUserTag("operator1", "signing")).toBe(false); // 304
    expect(await admin.getUserTags("operator1")).toEqual(["signing"]);
    expect(await operator.getUserTags("operator1")).toEqual(["signing"]);
    expect((await errorOf(() => admin.addUserTag("metrics1", "x"))).message).toContain("tag operations only exist on operator users");
    expect(await operator.listKeys({ filter: true })).toHaveLength(7);
    expect(await admin.addKeyTag("imported-ed", "other")).toBe(true);
    await admin.deleteKeyTag("imported-ed", "other");
    expect((await errorOf(() => admin.deleteKeyTag("imported-ed", "other"))).message).toContain("404");
  });

  const setups: Record<string, KeySetup> = {
    ed: { keyType: "Curve25519", keyMechanisms: ["EdDsaSignature"], signatureType: "EdDsa", openpgp: { userIds: ["ed <ed@example.org>"], version: 4 } },
    p256: { keyType: "EcP256", keyMechanisms: ["EcdsaSignature"], signatureType: "EcdsaP256", openpgp: { userIds: ["p256 <p256@example.org>"], version: 4 } },
    p384: { keyType: "EcP384", keyMechanisms: ["EcdsaSignature"], signatureType: "EcdsaP384", openpgp: { userIds: ["p384 <p384@example.org>"], version: 4 } },
    p521: { keyType: "EcP521", keyMechanisms: ["EcdsaSignature"], signatureType: "EcdsaP521", openpgp: { userIds: ["p521 <p521@example.org>"], version: 4 } },
    rsa: { keyType: "Rsa", keyMechanisms: ["RsaSignaturePkcs1"], signatureType: "Pkcs1", keyLength: 2048, openpgp: { userIds: ["rsa <rsa@example.org>"], version: 4 } },
  };

  it("signs a digest with every key type through SigningKey; node:crypto verifies", async () => {
    for (const id of Object.keys(keyIds)) {
      const key = await openNetHsmSigningKey({ connections: [h.pinned], user: "operator1", passphrase: OPERATOR_PW, keyId: id, observer: clientObserver(h.rec) });
      try {
        const pem = await operator.getPublicKeyPem(id);
        const pub = createPublicKey(pem);
        const mpis = await key.signDigest(sha512);
        let ok: boolean;
        if (key.publicKey.kind === "ed25519") {
          expect(mpis.map((m) => m.length)).toEqual([32, 32]);
          ok = verify(null, sha512, pub, Buffer.concat(mpis));
        } else if (key.publicKey.kind === "ecdsa") {
          // the HSM got sha512 truncated to the curve size, which is what ECDSA-with-SHA-512 verification uses
          ok = verify("sha512", data, { key: pub, dsaEncoding: "der" }, derFromRs(mpis[0]!, mpis[1]!));
        } else {
          expect(mpis[0]!.length).toBe(256);
          ok = verify("sha512", data, pub, mpis[0]!);
        }
        expect(ok, `signature of ${id}`).toBe(true);
        expect(await key.certificate()).toBeUndefined();
      } finally {
        await key.close();
      }
    }
    expect((await admin.getKey("p256")).operations).toBe(1);
  });

  it("signs PSS over a given digest (sLen = hLen) and ECDSA verifiable by openssl", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nethsm-openssl-"));
    try {
      for (const [mode, hash] of [["PSS_SHA256", "sha256"], ["PSS_SHA512", "sha512"]] as const) {
        const digest = createHash(hash).update(data).digest();
        const sig = await operator.sign("rsa", mode, digest);
        const pub = createPublicKey(await operator.getPublicKeyPem("rsa"));
        expect(verify(hash, data, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length }, sig)).toBe(true);
        writeFileSync(join(dir, "pub.pem"), await operator.getPublicKeyPem("rsa"));
        writeFileSync(join(dir, "data"), data);
        writeFileSync(join(dir, "sig"), sig);
        const out = execFileSync("openssl", ["dgst", `-${hash}`, "-verify", join(dir, "pub.pem"), "-sigopt", "rsa_padding_mode:pss", "-sigopt", `rsa_pss_saltlen:${digest.length}`, "-signature", join(dir, "sig"), join(dir, "data")]).toString();
        expect(out.trim()).toBe("Verified OK");
      }
      const wrongSize = await errorOf(() => operator.sign("rsa", "PSS_SHA256", sha512));
      expect(wrongSize.message).toContain("400 bad request: digested data of invalid size");
      const notAllowed = await errorOf(() => operator.sign("imported-rsa", "PSS_SHA256", createHash("sha256").update(data).digest()));
      expect(notAllowed.message).toContain("Key mechanisms do not allow requested signing.");
      const badMode = await errorOf(() => operator.sign("ed", "ECDSA", sha512));
      expect(badMode.message).toContain("invalid sign mode");
      const d384 = createHash("sha384").update(data).digest();
      const der = await operator.sign("p384", "ECDSA", d384);
      writeFileSync(join(dir, "pub.pem"), await operator.getPublicKeyPem("p384"));
      writeFileSync(join(dir, "sig"), der);
      const out = execFileSync("openssl", ["dgst", "-sha384", "-verify", join(dir, "pub.pem"), "-signature", join(dir, "sig"), join(dir, "data")]).toString();
      expect(out.trim()).toBe("Verified OK");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stores, reads and deletes key certificates (201/409/404); KeyAdministration lists keys", async () => {
    const adm = openNetHsmAdministration({ connections: [h.pinned], user: "admin", passphrase: ADMIN, observer: clientObserver(h.rec) });
    try {
      const cert = Buffer.from([0x99, 0, 1, 2, 3, 0xff]);
      expect(await adm.getCertificate("ed")).toBeUndefined();
      await adm.putCertificate("ed", cert);
      expect(await adm.getCertificate("ed")).toEqual(cert);
      expect((await errorOf(() => adm.putCertificate("ed", cert))).message).toContain("409 conflict");
      await admin.deleteKeyCertificate("ed");
      expect((await errorOf(() => admin.deleteKeyCertificate("ed"))).message).toContain("404 not found");
      expect((await errorOf(() => adm.putCertificate("missing", cert))).message).toContain("PUT /keys/missing/cert: 404");
      const list = await adm.listKeys();
      expect(list.map((k) => k.ref)).toEqual(["ed", "imported-ed", "imported-rsa", "p256", "p384", "p521", "rsa"]);
      expect(list[0]!.sha3_384).toMatch(/^[0-9a-f]{96}$/);
      const pk = await adm.generateKey("gen4", setups.p256!);
      expect(pk.kind).toBe("ecdsa");
      await adm.deleteKey("gen4");
    } finally {
      await adm.close();
    }
  });

  it("makes OpenPGP signatures through the signing core that sqop and gpg verify", async () => {
    const { createCertificate, parseCertificate } = await import("../../../lib/signing/openpgp/certificate.js");
    const { signHasherState } = await import("../../../lib/signing/openpgp/signature.js");
    const { armor } = await import("../../../lib/signing/openpgp/armor.js");
    const { Sha512State } = await import("../../../lib/signing/sha512-state.js");
    const dir = mkdtempSync(join(tmpdir(), "nethsm-sqop-"));
    const gnupg = join(dir, "gnupg");
    mkdirSync(gnupg, { mode: 0o700 });
    try {
      writeFileSync(join(dir, "data"), data);
      for (const id of Object.keys(keyIds)) {
        const key: SigningKey = await openNetHsmSigningKey({ connections: [h.pinned], user: "operator1", passphrase: OPERATOR_PW, keyId: id });
        try {
          const created = new Date("2026-01-01T00:00:00Z");
          const certBytes = await createCertificate(key, { userIds: setups[id]!.openpgp.userIds, created });
          await admin.putKeyCertificate(id, certBytes);
          const stored = await key.certificate();
          expect(Buffer.from(stored!)).toEqual(Buffer.from(certBytes));
          const cert = parseCertificate(stored!);
          const state = Sha512State.create().update(data);
          const sig = await signHasherState(state, key, cert, { created: new Date() });
          writeFileSync(join(dir, `${id}.cert`), armor("PUBLIC KEY BLOCK", certBytes));
          writeFileSync(join(dir, `${id}.sig`), armor("SIGNATURE", sig));
          const fpr = Buffer.from(cert.fingerprint).toString("hex").toUpperCase();
          const out = execFileSync("sqop", ["verify", join(dir, `${id}.sig`), join(dir, `${id}.cert`)], { input: data }).toString();
          expect(out, `sqop verify ${id}`).toContain(fpr);
          execFileSync("gpg", ["--homedir", gnupg, "--batch", "--quiet", "--import", join(dir, `${id}.cert`)], { stdio: "ignore" });
          const status = execFileSync("gpg", ["--homedir", gnupg, "--batch", "--status-fd", "1", "--verify", join(dir, `${id}.sig`), join(dir, "data")], { stdio: ["ignore", "pipe", "ignore"] }).toString();
          expect(status, `gpg verify ${id}`).toMatch(new RegExp(`\\[GNUPG:\\] VALIDSIG ${fpr} `));
        } finally {
          await key.close();
        }
      }
    } finally {
      execFileSync("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"], { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports metrics with string values and a sign count", async () => {
    const metrics = h.client({ user: "metrics1", passphrase: METRICS_PW });
    const m = await metrics.metrics();
    expect(Object.values(m).every((v) => typeof v === "string")).toBe(true);
    expect(Number(m.sign)).toBeGreaterThanOrEqual(17);
    expect(Number(m.generate)).toBe(7);
    expect(Number(m["http response total"])).toBeGreaterThan(50);
    // The device's own count of 403 answers so far (earlier tests had some), then one more for the wrong role.
    const forbidden = h.standIn.device.counters.get("http response 403") ?? 0;
    expect(forbidden).toBeGreaterThan(0);
    expect(m["http response 403"]).toBe(String(forbidden));
    expect((await errorOf(() => admin.metrics())).message).toContain("403");
    expect((await metrics.metrics())["http response 403"]).toBe(String(forbidden + 1));
    const rnd = await operator.random(33);
    expect(rnd.length).toBe(33);
  });

  let backupBytes: Buffer;
  it("makes a backup in the real format that the offline reader decrypts", async () => {
    const backupUser = h.client({ user: "backup1", passphrase: BACKUP_USER_PW });
    const unset = await errorOf(() => backupUser.backup());
    expect((unset as NetHsmHttpError).status).toBe(412);
    const wrong = await errorOf(() => admin.setBackupPassphrase(BACKUP, "not-the-current"));
    expect(wrong.message).toContain("403");
    await admin.setBackupPassphrase(BACKUP, "");
    expect((await errorOf(() => admin.backup())).message).toContain("403");
    backupBytes = await backupUser.backup();
    const file = parseBackup(backupBytes);
    expect(file.version).toBe(1);
    const d = await decryptBackup(file, { passphrase: BACKUP });
    const items = listItems(d);
    expect(items).toEqual(expect.arrayContaining(["/authentication/operator1", "/authentication/ns1~admin", "/key/ed", "/key/rsa", "/key/.ns1/nskey", "/namespace/ns1", "/config/version"]));
    const opened = await openBackup(d, UNLOCK);
    const op = opened.entries.find((e) => e.key === "/authentication/operator1")!;
    const rec = parseUserRecord(op.value!, op.key);
    expect(rec.role).toBe("Operator");
    expect(rec.tags).toEqual(["signing"]);
  });

  it("restores the backup into a fresh device (Locked, then unlock with the backup's passphrase)", async () => {
    const second = await startStandIn({ rateLimitMs: 0, onExchange: (e) => h.rec.record({ method: e.method, path: e.path, status: e.status, responseContentType: e.responseContentType, responseBody: e.responseBody }, "response") });
    try {
      const conn = connection(second.url, { kind: "Fingerprints", sha256: [second.tls.fingerprint] });
      const anon = h.client(undefined, [conn]);
      const wrong = await errorOf(() => anon.restore(backupBytes, { backupPassphrase: "wrong-backup-pass" }));
      expect(wrong.message).toContain("400 bad request: Could not decrypt backup-version, authentication failed. Is the passphrase correct?");
      expect(wrong.message).not.toContain("wrong-backup-pass");
      await anon.restore(backupBytes, { backupPassphrase: BACKUP, systemTime: new Date() });
      expect(await anon.state()).toBe("Locked");
      expect((await errorOf(() => anon.unlock("not-the-unlock"))).message).toContain("403");
      await anon.unlock(UNLOCK);
      expect(await anon.state()).toBe("Operational");
      const op2 = h.client({ user: "operator1", passphrase: OPERATOR_PW }, [conn]);
      const sig = await op2.sign("ed", "EdDSA", data);
      expect(verify(null, data, createPublicKey(await operator.getPublicKeyPem("ed")), sig)).toBe(true);
      const admin2 = h.client({ user: "admin", passphrase: ADMIN }, [conn]);
      expect(await admin2.listNamespaces()).toEqual(["ns1"]);
      expect(await admin2.getKeyCertificate("p256")).toEqual(await admin.getKeyCertificate("p256"));
    } finally {
      await second.close();
    }
  });

  it("restores partially while Operational (R-Admin, deleted keys come back)", async () => {
    await admin.deleteKey("p521");
    expect((await admin.listKeys()).includes("p521")).toBe(false);
    const noAuth = await errorOf(() => h.client().restore(backupBytes, { backupPassphrase: BACKUP }));
    expect((noAuth as NetHsmHttpError).status).toBe(401);
    await admin.restore(backupBytes); // same salt: passphrase may be omitted
    expect(await admin.listKeys()).toContain("p521");
    expect(await h.client().state()).toBe("Operational");
  });

  it("locks, unlocks, changes the unlock passphrase", async () => {
    await admin.lock();
    expect(await h.client().state()).toBe("Locked");
    expect((await errorOf(() => operator.sign("ed", "EdDSA", data))).message).toContain("412");
    await h.client().unlock(UNLOCK);
    const wrong = await errorOf(() => admin.setUnlockPassphrase("new-unlock-pass", "wrong-current"));
    expect(wrong.message).toContain("403 access denied (wrong role, namespace, tag restriction or passphrase): unlock passphrase is incorrect.");
    await admin.setUnlockPassphrase("new-unlock-pass", UNLOCK);
    await admin.lock();
    await h.client().unlock("new-unlock-pass");
    expect(await h.client().state()).toBe("Operational");
  });

  it("changes passphrases: operators themselves, metrics users not", async () => {
    await operator.setUserPassphrase("operator1", "operator-new-pass");
    const op = h.client({ user: "operator1", passphrase: "operator-new-pass" });
    expect(await op.getUserTags("operator1")).toEqual(["signing"]);
    const metrics = h.client({ user: "metrics1", passphrase: METRICS_PW });
    expect((await errorOf(() => metrics.setUserPassphrase("metrics1", "metrics-new-pass"))).message).toContain("403");
    await admin.setUserPassphrase("operator1", OPERATOR_PW);
  });

  it("uploads, cancels and commits updates (412/409 rules)", async () => {
    const { makeUpdateImage } = await import("../../support/nethsm-standin/index.js");
    expect((await errorOf(() => admin.commitUpdate())).message).toContain("412");
    const notes = await admin.uploadUpdate(makeUpdateImage(h.updateKey, "new things", "4.1"));
    expect(notes).toBe("new things");
    expect((await errorOf(() => admin.uploadUpdate(makeUpdateImage(h.updateKey, "again", "4.2")))).message).toContain("409");
    await admin.cancelUpdate();
    expect((await errorOf(() => admin.cancelUpdate())).message).toContain("412");
    const otherVendor = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey as KeyObject;
    expect((await errorOf(() => admin.uploadUpdate(makeUpdateImage(otherVendor, "evil", "4.3")))).message).toContain("400 bad request: Signature check of update image failed");
    expect((await errorOf(() => admin.uploadUpdate(makeUpdateImage(h.updateKey, "old", "3.0")))).message).toContain("409");
    await admin.uploadUpdate(makeUpdateImage(h.updateKey, "new things", "4.1"));
    await admin.commitUpdate();
    expect(await h.client().state()).toBe("Locked"); // rebooted
    await h.client().unlock("new-unlock-pass");
    expect((await admin.systemInfo()).softwareVersion).toBe("4.1");
  });

  it("deletes a namespace with its keys but keeps its users", async () => {
    await admin.deleteNamespace("ns1");
    expect(await admin.listNamespaces()).toEqual([]);
    expect(await admin.listUsers()).toContain("ns1~admin");
    expect(h.standIn.device.keyStore("ns1").size).toBe(0);
  });

  it("validated every exchange against the spec", () => {
    expect(h.rec.requests).toBeGreaterThan(100);
    expect(h.rec.responses).toBeGreaterThan(100);
    expect(h.rec.problems).toEqual([]);
  });
});
