import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPkcs11Admin } from "../../../lib/backends/pkcs11/index.js";
import type { PublicKey } from "../../../lib/signing/signer.js";
import { type SoftHsm, createSoftHsm } from "../../support/softhsm.js";
import { keyObjectOf, rawSignature, runSignChild, setupFor } from "./helpers.js";
import { verify } from "node:crypto";

describe("two processes signing with the same token at the same time", () => {
  let hsm: SoftHsm;
  let publicKey: PublicKey;

  beforeAll(async () => {
    hsm = await createSoftHsm();
    hsm.activate();
    const admin = await openPkcs11Admin({ module: hsm.module, token: { label: "signstar" }, userPin: hsm.token.userPin });
    try {
      publicKey = await admin.generateKey("label:shared", setupFor("Curve25519"));
    } finally {
      await admin.close();
    }
  });
  afterAll(async () => {
    await hsm?.cleanup();
  });

  it("both succeed and every signature verifies", async () => {
    const input = { module: hsm.module, token: { label: "signstar" }, key: { label: "shared" }, pin: hsm.token.userPin, count: 2000 };
    const results = await Promise.all([runSignChild(input, hsm.env), runSignChild(input, hsm.env)]);
    const spans = results.map((r) => JSON.parse(r.stdout) as { started: number; finished: number });
    // The two signing loops really ran at the same time.
    expect(Math.max(spans[0]!.started, spans[1]!.started)).toBeLessThan(Math.min(spans[0]!.finished, spans[1]!.finished));
    for (const r of results) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as { kind: string; signatures: { digest: string; mpis: string[] }[] };
      expect(out.signatures.length).toBe(2000);
      for (const s of out.signatures) {
        const sig = rawSignature(publicKey, s.mpis.map((m) => Buffer.from(m, "hex")));
        expect(verify(null, Buffer.from(s.digest, "hex"), keyObjectOf(publicKey), sig)).toBe(true);
      }
    }
  });

  it("many short-lived processes opening the token at once all succeed (SoftHSM rewrites its token file on login)", async () => {
    const input = { module: hsm.module, token: { label: "signstar" }, key: { label: "shared" }, pin: hsm.token.userPin, count: 1 };
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(Array.from({ length: 16 }, () => runSignChild(input, hsm.env)));
      expect(results.map((r) => r.stderr).filter((e) => e !== "")).toEqual([]);
      expect(results.map((r) => r.code)).toEqual(Array(16).fill(0));
    }
  });
});
