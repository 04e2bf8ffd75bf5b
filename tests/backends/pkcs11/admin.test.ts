import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Pkcs11PinError,
  Pkcs11TokenNotFoundError,
  Pkcs11UsageError,
  changePkcs11UserPin,
  initPkcs11Token,
  openPkcs11Admin,
  openPkcs11SigningKey,
  setPkcs11UserPin,
} from "../../../lib/backends/pkcs11/index.js";
import { type SoftHsm, createSoftHsm } from "../../support/softhsm.js";
import { setupFor, sha512, nodeVerifies } from "./helpers.js";

describe("PKCS#11 token administration", () => {
  let hsm: SoftHsm;

  beforeAll(async () => {
    hsm = await createSoftHsm({ tokens: [] });
    hsm.activate();
  });
  afterAll(async () => {
    await hsm?.cleanup();
  });

  it("initializes a token in SoftHSM's free slot, sets and rotates the user PIN", async () => {
    const t = await initPkcs11Token({ module: hsm.module, label: "fresh", soPin: "so-secret-1", userPin: "user-pin-1" });
    expect(t.label).toBe("fresh");
    expect(t.serial).toMatch(/^[0-9a-f]{16}$/);
    await expect(initPkcs11Token({ module: hsm.module, label: "fresh", soPin: "so-secret-1", userPin: "user-pin-1" })).rejects.toThrow(
      /a token with label "fresh" exists already/,
    );
    // The token is usable by serial and label.
    const admin = await openPkcs11Admin({ module: hsm.module, token: { serial: t.serial }, userPin: "user-pin-1" });
    await admin.generateKey("label:k", setupFor("EcP384"));
    await admin.close();

    // Rotate with the old PIN (C_SetPIN).
    await changePkcs11UserPin({ module: hsm.module, token: { label: "fresh" }, oldPin: "user-pin-1", newPin: "user-pin-2" });
    await expect(
      openPkcs11SigningKey({ module: hsm.module, token: { label: "fresh" }, key: { label: "k" }, pin: "user-pin-1" }),
    ).rejects.toThrow(Pkcs11PinError);
    await expect(changePkcs11UserPin({ module: hsm.module, token: { label: "fresh" }, oldPin: "wrong-old", newPin: "x-3456" })).rejects.toThrow(
      /^wrong PIN \(CKR_PIN_INCORRECT; module .*, token label "fresh"\)$/,
    );
    // Reset with the SO PIN (C_InitPIN), e.g. after CKR_PIN_LOCKED.
    await setPkcs11UserPin({ module: hsm.module, token: { label: "fresh" }, soPin: "so-secret-1", newPin: "user-pin-3" });
    await expect(setPkcs11UserPin({ module: hsm.module, token: { label: "fresh" }, soPin: "so-wrong", newPin: "user-pin-4" })).rejects.toThrow(
      Pkcs11PinError,
    );
    const key = await openPkcs11SigningKey({ module: hsm.module, token: { label: "fresh" }, key: { label: "k" }, pin: "user-pin-3" });
    try {
      expect(nodeVerifies(key.publicKey, Buffer.from("m"), await key.signDigest(sha512("m")))).toBe(true);
    } finally {
      await key.close();
    }
  });

  it("refuses bad labels and PINs without echoing the PIN", async () => {
    await expect(initPkcs11Token({ module: hsm.module, label: "x".repeat(33), soPin: "so-secret-1", userPin: "user-pin-1" })).rejects.toThrow(
      Pkcs11UsageError,
    );
    const err = await initPkcs11Token({ module: hsm.module, label: "ok", soPin: "bad\nsecret", userPin: "user-pin-1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Pkcs11UsageError);
    expect((err as Error).message).not.toContain("secret");
    await expect(openPkcs11Admin({ module: hsm.module, token: { label: "absent" }, userPin: "user-pin-1" })).rejects.toThrow(Pkcs11TokenNotFoundError);
  });
});
