/**
 * Stand-in device behaviour beyond the signing flow (as keyfender's handlers behave, Nitrokey/nethsm 4e192fb9): namespace rules, Generic keys,
 * decrypt/encrypt, move, labels, random and metrics permissions. Every exchange is validated against the spec.
 */
import { constants, createCipheriv, createHash, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetHsmHttpError, type NetHsmClient } from "../../../lib/backends/nethsm/index.js";
import { emsaPssEncode } from "../../support/nethsm-standin/index.js";
import { ADMIN, errorOf, raw, startHarness, UNLOCK, type Harness } from "./harness.js";

let h: Harness;
let admin: NetHsmClient;
const OP = { user: "op", passphrase: "operator-pass-1" };
const json = { "Content-Type": "application/json" };

beforeAll(async () => {
  h = await startHarness({ rateLimitMs: 0 });
  await h.client().provision({ unlockPassphrase: UNLOCK, adminPassphrase: ADMIN, systemTime: new Date() });
  admin = h.client({ user: "admin", passphrase: ADMIN });
  await admin.addUser({ userId: "op", realName: "op", role: "Operator", passphrase: OP.passphrase });
});

afterAll(async () => {
  await h.close();
  expect(h.rec.problems).toEqual([]);
  expect(h.rec.unconsumed).toEqual([]);
});

describe("namespace rules", () => {
  it("N-Admins stay in their namespace; R-Admins see everyone; deletes are same-namespace only", async () => {
    for (const ns of ["a", "b"]) {
      await admin.addUser({ userId: `${ns}~admin`, realName: ns, role: "Administrator", passphrase: `${ns}-admin-pass` });
      await admin.addNamespace(ns);
    }
    const aAdmin = h.client({ user: "a~admin", passphrase: "a-admin-pass" });
    await aAdmin.addUser({ userId: "a~op", realName: "a op", role: "Operator", passphrase: "a-operator-pass" });
    expect((await errorOf(() => aAdmin.addUser({ userId: "b~op", realName: "x", role: "Operator", passphrase: "b-operator-pass" }))).message).toContain("403");
    expect((await errorOf(() => aAdmin.getUser("b~admin"))).message).toContain("403");
    expect(await admin.getUser("a~op")).toEqual({ realName: "a op", role: "Operator" });
    expect((await errorOf(() => admin.deleteUser("a~op"))).message).toContain("403"); // namespace exists
    expect((await errorOf(() => aAdmin.lock())).message).toContain("403"); // root-only
    expect((await errorOf(() => aAdmin.systemInfo())).message).toContain("403");
    expect((await errorOf(() => aAdmin.addUserTag("op", "t"))).message).toContain("403");
    // keys with the same id in different namespaces are distinct
    await admin.generateKey({ id: "same", type: "Curve25519", mechanisms: ["EdDSA_Signature"] });
    await aAdmin.generateKey({ id: "same", type: "EC_P256", mechanisms: ["ECDSA_Signature"] });
    expect((await admin.getKey("same")).type).toBe("Curve25519");
    expect((await aAdmin.getKey("same")).type).toBe("EC_P256");
    await aAdmin.deleteUser("a~op");
    expect(await aAdmin.listUsers()).toEqual(["a~admin"]);
  });
});

describe("keys", () => {
  it("Generic keys: public is null, no PEM, cannot sign; AES-CBC encrypt/decrypt without padding", async () => {
    const raw16 = randomBytes(32);
    await admin.importKey({ mechanisms: ["AES_Encryption_CBC", "AES_Decryption_CBC"], key: { type: "Generic", data: raw16 } }, "aes");
    const k = await admin.getKey("aes");
    expect(k.public).toBeNull();
    expect(k.type).toBe("Generic");
    expect((await errorOf(() => admin.getPublicKeyPem("aes"))).message).toContain("400 bad request: Generic keys have no public key");
    const op = h.client(OP);
    expect((await errorOf(() => op.sign("aes", "EdDSA", Buffer.alloc(4)))).message).toContain("Generic keys can't sign.");
    const iv = randomBytes(16);
    const msg = randomBytes(32);
    const enc = await raw(h, "POST", "/keys/aes/encrypt", { auth: OP, headers: json, body: JSON.stringify({ mode: "AES_CBC", message: msg.toString("base64"), iv: iv.toString("base64") }) });
    expect(enc.status).toBe(200);
    const expected = createCipheriv("aes-256-cbc", raw16, iv).setAutoPadding(false);
    expect(Buffer.from(JSON.parse(enc.body).encrypted, "base64")).toEqual(Buffer.concat([expected.update(msg), expected.final()]));
    const dec = await raw(h, "POST", "/keys/aes/decrypt", { auth: OP, headers: json, body: JSON.stringify({ mode: "AES_CBC", encrypted: JSON.parse(enc.body).encrypted, iv: iv.toString("base64") }) });
    expect(Buffer.from(JSON.parse(dec.body).decrypted, "base64")).toEqual(msg);
    const noIv = await raw(h, "POST", "/keys/aes/decrypt", { auth: OP, headers: json, body: JSON.stringify({ mode: "AES_CBC", encrypted: JSON.parse(enc.body).encrypted }) });
    expect(noIv.status).toBe(400);
    expect((await admin.getKey("aes")).operations).toBe(2);
  });

  it("RSA decryption: RAW, PKCS1 and OAEP; a padding failure is 400 Decryption failure", async () => {
    await admin.generateKey({ id: "dec", type: "RSA", length: 2048, mechanisms: ["RSA_Decryption_RAW", "RSA_Decryption_PKCS1", "RSA_Decryption_OAEP_SHA256"] });
    const pub = createPublicKey(await admin.getPublicKeyPem("dec"));
    const secret = Buffer.from("top secret");
    const call = async (mode: string, c: Buffer) =>
      raw(h, "POST", "/keys/dec/decrypt", { auth: OP, headers: json, body: JSON.stringify({ mode, encrypted: c.toString("base64") }) });
    const pkcs1 = await call("PKCS1", publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, secret));
    expect(Buffer.from(JSON.parse(pkcs1.body).decrypted, "base64")).toEqual(secret);
    const oaep = await call("OAEP_SHA256", publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, secret));
    expect(Buffer.from(JSON.parse(oaep.body).decrypted, "base64")).toEqual(secret);
    const rawRes = await call("RAW", publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, secret));
    const rawBytes = Buffer.from(JSON.parse(rawRes.body).decrypted, "base64");
    expect(rawBytes.length).toBe(256);
    expect(rawBytes.subarray(0, 2)).toEqual(Buffer.from([0, 2]));
    const bad = await call("OAEP_SHA256", randomBytes(256).fill(0, 0, 1));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({ message: "Decryption failure" });
    const noMech = await call("OAEP_SHA512", publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha512" }, secret));
    expect(noMech.status).toBe(400);
  });

  it("imports PEM private keys (multipart): PKCS#8, RSA PRIVATE KEY and SEC1 EC", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const ed = generateKeyPairSync("ed25519");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ec = generateKeyPairSync("ec", { namedCurve: "P-521" });
    const spki = (k: import("node:crypto").KeyObject) => k.export({ format: "pem", type: "spki" }).toString();
    const id = await admin.importKeyPem(ed.privateKey.export({ format: "pem", type: "pkcs8" }).toString(), { mechanisms: ["EdDSA_Signature"], tags: ["pem"] });
    expect(await admin.getPublicKeyPem(id)).toBe(spki(ed.publicKey));
    expect((await admin.getKey(id)).restrictions).toEqual({ tags: ["pem"] });
    await admin.importKeyPem(rsa.privateKey.export({ format: "pem", type: "pkcs1" }).toString(), { mechanisms: ["RSA_Signature_PKCS1"] }, "pem-rsa");
    expect(await admin.getPublicKeyPem("pem-rsa")).toBe(spki(rsa.publicKey));
    await admin.importKeyPem(ec.privateKey.export({ format: "pem", type: "sec1" }).toString(), { mechanisms: ["ECDSA_Signature"] }, "pem-ec");
    expect((await admin.getKey("pem-ec")).type).toBe("EC_P521");
    const bad = await errorOf(() => admin.importKeyPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", { mechanisms: ["EdDSA_Signature"] }));
    expect(bad.message).toContain("400 bad request: Invalid PEM private key");
  });

  it("moves keys (409 on an existing target) and sets labels (304 on the same value)", async () => {
    await admin.generateKey({ id: "mv", type: "EC_P384", mechanisms: ["ECDSA_Signature"] });
    await admin.generateKey({ id: "taken", type: "EC_P384", mechanisms: ["ECDSA_Signature"] });
    expect((await errorOf(() => admin.moveKey("mv", "taken"))).message).toContain("409");
    await admin.moveKey("mv", "moved");
    expect(await admin.listKeys({ prefix: "m" })).toEqual(["moved"]);
    const put = (label: string) => raw(h, "PUT", "/keys/moved/label", { auth: { user: "admin", passphrase: ADMIN }, headers: json, body: JSON.stringify({ label }) });
    expect((await put("release")).status).toBe(204);
    expect((await put("release")).status).toBe(304);
    expect((await admin.getKey("moved")).label).toBe("release");
    const byLabel = await raw(h, "GET", "/keys?label=release", { auth: { user: "admin", passphrase: ADMIN } });
    expect(JSON.parse(byLabel.body)).toEqual([{ id: "moved" }]);
  });

  it("random: 1..1024 bytes for Operators only; RSA length bounds", async () => {
    const op = h.client(OP);
    expect((await op.random(1024)).length).toBe(1024);
    h.rec.allowOnce(/^POST \/random → 400: request body: data\/length must be <= 1024$/);
    const e = await errorOf(() => op.random(1025));
    expect((e as NetHsmHttpError).status).toBe(400);
    h.rec.allowOnce(/^POST \/keys\/generate → 400: request body: data\/length must be <= 8192$/);
    expect((await errorOf(() => admin.generateKey({ type: "RSA", length: 9000, mechanisms: ["RSA_Signature_PKCS1"] }))).message).toContain(
      "RSA key length must be between 1024 and 8192.",
    );
  });

  it("the stand-in's EMSA-PSS encoding matches RFC 8017 structure", () => {
    const mHash = createHash("sha256").update("x").digest();
    const em = emsaPssEncode(mHash, "sha256", 32, 2047);
    expect(em.length).toBe(256);
    expect(em[255]).toBe(0xbc);
    expect(em[0]! & 0x80).toBe(0);
  });
});

describe("configuration endpoints", () => {
  it("time, unattended boot, logging and network round-trip; reboot with unattended boot stays Operational", async () => {
    const t = new Date("2030-05-06T07:08:09Z");
    await admin.setTime(t);
    expect(Math.abs((await admin.getTime()).getTime() - t.getTime())).toBeLessThan(5000);
    expect(await admin.getUnattendedBoot()).toBe(false);
    await admin.setUnattendedBoot(true);
    await admin.reboot();
    expect(await h.client().state()).toBe("Operational");
    await admin.setUnattendedBoot(false);
    await admin.reboot();
    expect(await h.client().state()).toBe("Locked");
    await h.client().unlock(UNLOCK);
    const log = await raw(h, "GET", "/config/logging", { auth: { user: "admin", passphrase: ADMIN } });
    expect(JSON.parse(log.body)).toEqual({ ipAddress: "0.0.0.0", port: 514, logLevel: "info" });
  });

  it("factory reset returns to Unprovisioned", async () => {
    await admin.factoryReset();
    expect(await h.client().state()).toBe("Unprovisioned");
  });
});
