import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyType } from "../../../lib/config/model.js";
import {
  type Pkcs11Administration,
  openPkcs11Admin,
  openPkcs11SigningKey,
  Pkcs11UsageError,
} from "../../../lib/backends/pkcs11/index.js";
import { publicKeySha3_384 } from "../../../lib/signing/key-digest.js";
import { pkcs11js } from "../../../lib/backends/pkcs11/pkcs11js.js";
import { type SoftHsm, createSoftHsm } from "../../support/softhsm.js";
import { nodeVerifies, opensslVerifies, rawSignature, setupFor, sha512 } from "./helpers.js";

const TYPES: { type: KeyType; label: string; kind: string; bits?: number }[] = [
  { type: "Curve25519", label: "ed", kind: "ed25519" },
  { type: "EcP256", label: "p256", kind: "ecdsa" },
  { type: "EcP384", label: "p384", kind: "ecdsa" },
  { type: "EcP521", label: "p521", kind: "ecdsa" },
  { type: "Rsa", label: "rsa", kind: "rsa", bits: 2048 },
];

describe("PKCS#11 signing with SoftHSM", () => {
  let hsm: SoftHsm;
  let admin: Pkcs11Administration;

  beforeAll(async () => {
    hsm = await createSoftHsm();
    hsm.activate();
    admin = await openPkcs11Admin({ module: hsm.module, token: { label: hsm.token.label }, userPin: hsm.token.userPin });
    for (const t of TYPES) await admin.generateKey(`label:${t.label}`, setupFor(t.type, t.bits));
  });
  afterAll(async () => {
    await admin?.close();
    await hsm?.cleanup();
  });

  for (const t of TYPES) {
    it(`${t.type}: signs a digest that node:crypto and openssl verify`, async () => {
      const key = await openPkcs11SigningKey({ module: hsm.module, token: { label: "signstar" }, key: { label: t.label }, pin: hsm.token.userPin });
      try {
        expect(key.publicKey.kind).toBe(t.kind);
        if (key.publicKey.kind === "ecdsa") expect(key.publicKey.curve).toBe(`P-${t.type.slice(3)}`);
        if (key.publicKey.kind === "rsa") expect(key.publicKey.n.length).toBe(256);
        expect(key.ref).toBe(`label:${t.label}`);
        const message = randomBytes(1000);
        const digest = sha512(message);
        const mpis = await key.signDigest(digest);
        expect(mpis.length).toBe(t.kind === "rsa" ? 1 : 2);
        expect(nodeVerifies(key.publicKey, message, mpis)).toBe(true);
        expect(await opensslVerifies(key.publicKey, digest, rawSignature(key.publicKey, mpis))).toBe(true);
        // A different message must not verify.
        expect(nodeVerifies(key.publicKey, randomBytes(1000), mpis)).toBe(false);
        expect(await key.certificate()).toBeUndefined();
      } finally {
        await key.close();
      }
    });
  }

  it("finds the same key by id, and lists keys with SHA3-384 digests", async () => {
    const keys = await admin.listKeys();
    expect(keys.map((k) => k.ref)).toEqual(["label:ed", "label:p256", "label:p384", "label:p521", "label:rsa"]);
    const p256 = keys.find((k) => k.label === "p256");
    expect(p256?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(p256?.sha3_384).toBe(publicKeySha3_384(p256!.publicKey));
    expect(p256?.openpgpFingerprint).toBeUndefined();
    const byId = await openPkcs11SigningKey({ module: hsm.module, token: { serial: hsm.token.serial }, key: { id: p256!.id }, pin: hsm.token.userPin });
    try {
      expect(byId.publicKey).toEqual(p256!.publicKey);
      const message = Buffer.from("by id");
      expect(nodeVerifies(byId.publicKey, message, await byId.signDigest(sha512(message)))).toBe(true);
    } finally {
      await byId.close();
    }
  });

  it("RSA-PSS raw signatures verify with openssl and node:crypto; EC keys refuse PSS", async () => {
    const key = await openPkcs11SigningKey({ module: hsm.module, token: { label: "signstar" }, key: { label: "rsa" }, pin: hsm.token.userPin });
    const ec = await openPkcs11SigningKey({ module: hsm.module, token: { label: "signstar" }, key: { label: "p256" }, pin: hsm.token.userPin });
    try {
      const digest = sha512("pss message");
      const sig = await key.signPssSha512(digest);
      expect(sig.length).toBe(256);
      expect(await opensslVerifies(key.publicKey, digest, Buffer.from(sig), "pss")).toBe(true);
      expect(await opensslVerifies(key.publicKey, sha512("other"), Buffer.from(sig), "pss")).toBe(false);
      await expect(ec.signPssSha512(digest)).rejects.toThrow(Pkcs11UsageError);
      await expect(key.signDigest(new Uint8Array(32))).rejects.toThrow(/64-byte SHA-512 digest, got 32 bytes/);
    } finally {
      await key.close();
      await ec.close();
    }
  });

  it("private keys are sensitive, not extractable and on the token", async () => {
    await admin.close();
    // Nothing of ours is open now, so a raw pkcs11js instance can initialize the module on its own.
    const p = new pkcs11js.PKCS11();
    p.load(hsm.module);
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    try {
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === "signstar")!;
      const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      p.C_Login(s, pkcs11js.CKU_USER, hsm.token.userPin);
      p.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]);
      const keys = p.C_FindObjects(s, 100);
      p.C_FindObjectsFinal(s);
      expect(keys.length).toBe(TYPES.length);
      for (const k of keys) {
        const [sens, extr, tok, never] = p.C_GetAttributeValue(s, k, [
          { type: pkcs11js.CKA_SENSITIVE },
          { type: pkcs11js.CKA_EXTRACTABLE },
          { type: pkcs11js.CKA_TOKEN },
          { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
        ]);
        expect([sens!.value[0], extr!.value[0], tok!.value[0], never!.value[0]]).toEqual([1, 0, 1, 1]);
      }
      p.C_CloseSession(s);
    } finally {
      p.C_Finalize();
    }
    admin = await openPkcs11Admin({ module: hsm.module, token: { label: "signstar" }, userPin: hsm.token.userPin });
  });

  it("deletes both halves of a key", async () => {
    await admin.generateKey("id:0a0b", setupFor("EcP256"));
    expect((await admin.listKeys()).map((k) => k.ref)).toContain("id:0a0b");
    await expect(admin.generateKey("id:0a0b", setupFor("EcP256"))).rejects.toThrow(/key id:0a0b exists already/);
    await admin.deleteKey("id:0a0b");
    expect((await admin.listKeys()).map((k) => k.ref)).not.toContain("id:0a0b");
    await expect(admin.deleteKey("id:0a0b")).rejects.toThrow(/no private key id:0a0b on module .*token label "signstar"/);
    await expect(admin.generateKey("nope", setupFor("EcP256"))).rejects.toThrow(/neither label:<label> nor id:<hex>/);
  });
});
