import { execFileSync } from "node:child_process";
import { constants, createHash, generateKeyPairSync, publicDecrypt, randomBytes, verify, type KeyObject } from "node:crypto";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { describe, expect, it } from "vitest";
import { hsmSigningInput, SHA512_DIGEST_INFO_PREFIX } from "../../lib/signing/hsm-input.js";
import { publicKeySha3_384, publicKeySpkiDer } from "../../lib/signing/key-digest.js";
import { publicKeyFromKeyObject, publicKeysEqual, publicKeyToKeyObject } from "../../lib/signing/public-key.js";
import { softwareSigner } from "../support/software-signer.js";
import { hex } from "./support.js";

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => Uint8Array.from([...a, ...b]);

describe("softwareSigner", () => {
  it("Ed25519: [R, S] verify as PureEdDSA over the digest", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const signer = softwareSigner(privateKey);
    const digest = randomBytes(64);
    const [r, s] = await signer.signDigest(digest);
    expect(r?.length).toBe(32);
    expect(verify(null, digest, publicKey, concat(r ?? new Uint8Array(), s ?? new Uint8Array()))).toBe(true);
    expect(verify(null, randomBytes(64), publicKey, concat(r ?? new Uint8Array(), s ?? new Uint8Array()))).toBe(false);
  });

  it("RSA: s opens to DigestInfo(SHA-512) ‖ digest", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const signer = softwareSigner(privateKey);
    const digest = randomBytes(64);
    const [s] = await signer.signDigest(digest);
    expect(s?.length).toBe(256);
    const opened = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, s ?? new Uint8Array());
    expect(hex(opened)).toBe(hex(SHA512_DIGEST_INFO_PREFIX) + hex(digest));
  });

  const curves = [
    ["P-256", p256, 32],
    ["P-384", p384, 48],
    ["P-521", p521, 66],
  ] as const;
  for (const [curve, noble, size] of curves) {
    it(`ECDSA ${curve}: (r, s) over the truncated digest verify with @noble/curves, twenty times`, async () => {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
      const signer = softwareSigner(privateKey);
      const pk = signer.publicKey;
      if (pk.kind !== "ecdsa") throw new Error("not ecdsa");
      for (let i = 0; i < 20; i++) {
        const digest = randomBytes(64);
        const [r, s] = await signer.signDigest(digest);
        expect(r?.length).toBe(size);
        const sig = concat(r ?? new Uint8Array(), s ?? new Uint8Array());
        const input = hsmSigningInput(pk, digest);
        expect(noble.verify(sig, input, pk.point, { prehash: false, lowS: false })).toBe(true);
        const other = hsmSigningInput(pk, randomBytes(64));
        expect(noble.verify(sig, other, pk.point, { prehash: false, lowS: false })).toBe(false);
      }
    });
  }
});

describe("public keys", () => {
  const keys: [string, () => KeyObject][] = [
    ["ed25519", () => generateKeyPairSync("ed25519").privateKey],
    ["P-256", () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey],
    ["P-384", () => generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey],
    ["P-521", () => generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey],
    ["rsa", () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey],
  ];
  for (const [name, make] of keys) {
    it(`${name}: KeyObject ↔ PublicKey round trip; SHA3-384 of the SPKI DER matches openssl`, () => {
      const priv = make();
      const pk = publicKeyFromKeyObject(priv);
      const back = publicKeyFromKeyObject(publicKeyToKeyObject(pk));
      expect(publicKeysEqual(pk, back)).toBe(true);
      const pem = publicKeyToKeyObject(pk).export({ type: "spki", format: "pem" });
      const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "DER"], { input: pem });
      expect(hex(publicKeySpkiDer(pk))).toBe(hex(der));
      const viaOpenssl = execFileSync("openssl", ["dgst", "-sha3-384", "-r"], { input: der }).toString().split(" ")[0];
      expect(publicKeySha3_384(pk)).toBe(viaOpenssl);
      expect(publicKeySha3_384(pk)).toBe(createHash("sha3-384").update(der).digest("hex"));
      expect(publicKeySha3_384(pk)).not.toBe(publicKeySha3_384(publicKeyFromKeyObject(make())));
    });
  }

  it("RSA equality ignores leading zero bytes; different kinds are never equal", () => {
    const pk = publicKeyFromKeyObject(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey);
    if (pk.kind !== "rsa") throw new Error("not rsa");
    const padded = { kind: "rsa" as const, n: Uint8Array.from([0, ...pk.n]), e: Uint8Array.from([0, 0, ...pk.e]) };
    expect(publicKeysEqual(pk, padded)).toBe(true);
    expect(publicKeySha3_384(pk)).toBe(publicKeySha3_384(padded));
    expect(publicKeysEqual(pk, { kind: "ed25519", a: new Uint8Array(32) })).toBe(false);
  });
});
