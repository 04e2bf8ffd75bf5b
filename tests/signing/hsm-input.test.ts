import { describe, expect, it } from "vitest";
import { SignerError, SigningInputError } from "../../lib/signing/errors.js";
import { ecdsaDerToRs, hsmSigningInput, rawSignatureToMpis, SHA512_DIGEST_INFO_PREFIX, splitFixed } from "../../lib/signing/hsm-input.js";
import type { EcCurve, PublicKey } from "../../lib/signing/signer.js";
import { hex, unhex, vectorJson } from "./support.js";

interface Vectors {
  eddsaSplit: { signature: string; r: string; s: string };
  ecdsaDer: { curve: EcCurve; der: string; r: string; s: string }[];
  rsaDigestInfoSha512ZeroDigest: string;
  rsaRawSignatureMpis: { signature: string; mpis: string[] };
  ecdsaTruncation: { curve: EcCurve; length: number }[];
}
const v = vectorJson("hsm-input.json") as Vectors;

const digest = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
const ed: PublicKey = { kind: "ed25519", a: new Uint8Array(32) };
const rsa: PublicKey = { kind: "rsa", n: new Uint8Array(256).fill(0xff), e: Uint8Array.from([1, 0, 1]) };
const ec = (curve: EcCurve): PublicKey => ({ kind: "ecdsa", curve, point: new Uint8Array(0) });

describe("Signstar nethsm/src/signer.rs vectors", () => {
  it("EdDSA raw signature splits 32/32", () => {
    const [r, s] = rawSignatureToMpis("ed25519", unhex(v.eddsaSplit.signature));
    expect(hex(r ?? new Uint8Array())).toBe(v.eddsaSplit.r);
    expect(hex(s ?? new Uint8Array())).toBe(v.eddsaSplit.s);
  });

  for (const c of v.ecdsaDer) {
    it(`${c.curve} DER signature → r, s`, () => {
      const [r, s] = ecdsaDerToRs(unhex(c.der));
      expect(hex(r)).toBe(c.r);
      expect(hex(s)).toBe(c.s);
      expect(rawSignatureToMpis("ecdsa", unhex(c.der)).map(hex)).toEqual([c.r, c.s]);
    });
  }

  it("RSA DigestInfo for SHA-512 wraps the digest", () => {
    expect(hex(hsmSigningInput(rsa, new Uint8Array(64)))).toBe(v.rsaDigestInfoSha512ZeroDigest);
    expect(hex(hsmSigningInput(rsa, digest))).toBe(hex(SHA512_DIGEST_INFO_PREFIX) + hex(digest));
    expect(rawSignatureToMpis("rsa", unhex(v.rsaRawSignatureMpis.signature)).map(hex)).toEqual(v.rsaRawSignatureMpis.mpis);
  });

  for (const t of v.ecdsaTruncation) {
    it(`ECDSA ${t.curve} signs the first ${t.length} bytes of the digest`, () => {
      const input = hsmSigningInput(ec(t.curve), digest);
      expect(input.length).toBe(t.length);
      expect(hex(input)).toBe(hex(digest.subarray(0, t.length)));
    });
  }

  for (const c of v.ecdsaDer) {
    it(`${c.curve}: a backend that returns r ‖ s (PKCS#11) gets the same MPIs through the same function`, () => {
      const size = { "P-256": 32, "P-384": 48, "P-521": 66 }[c.curve];
      const fixed = Uint8Array.from([...unhex(c.r.padStart(2 * size, "0")), ...unhex(c.s.padStart(2 * size, "0"))]);
      const mpis = rawSignatureToMpis(ec(c.curve), fixed, "fixed").map((x) => hex(x).replace(/^(00)+/, ""));
      expect(mpis).toEqual([c.r, c.s].map((x) => x.replace(/^(00)+/, "")));
    });
  }

  it("EdDSA is not wrapped", () => {
    expect(hex(hsmSigningInput(ed, digest))).toBe(hex(digest));
  });
});

describe("rejections", () => {
  it("digest of the wrong length", () => {
    expect(() => hsmSigningInput(ed, new Uint8Array(63))).toThrow(SigningInputError);
    expect(() => hsmSigningInput(ed, new Uint8Array(63))).toThrow("digest must be 64 bytes (SHA-512), got 63");
  });

  it("EdDSA signature that is not 64 bytes", () => {
    expect(() => rawSignatureToMpis("ed25519", new Uint8Array(63))).toThrow("EdDSA signature must be 64 bytes, got 63");
  });

  it("RSA signature that does not fit the modulus (given the public key)", () => {
    expect(() => rawSignatureToMpis(rsa, new Uint8Array(257))).toThrow("RSA signature of 257 bytes does not fit the 256-byte modulus");
    expect(() => rawSignatureToMpis(rsa, new Uint8Array(0))).toThrow(SignerError);
    expect(rawSignatureToMpis(rsa, new Uint8Array(256).fill(7)).map(hex)).toEqual([hex(new Uint8Array(256).fill(7))]);
  });

  it("splitFixed of odd or empty input", () => {
    expect(() => splitFixed(new Uint8Array(5))).toThrow(SignerError);
    expect(() => splitFixed(new Uint8Array(0))).toThrow("raw signature of 0 bytes cannot be split");
    expect(splitFixed(Uint8Array.from([1, 2, 3, 4])).map(hex)).toEqual(["0102", "0304"]);
  });

  const good = unhex(v.ecdsaDer[0]?.der ?? "");
  const cases: [string, Uint8Array, string][] = [
    ["not a SEQUENCE", Uint8Array.from([0x31, ...good.subarray(1)]), "expected SEQUENCE"],
    ["trailing byte", Uint8Array.from([...good, 0]), "length does not match"],
    ["truncated", good.subarray(0, good.length - 1), "length does not match"],
    ["first INTEGER tag wrong", Uint8Array.from([0x30, 0x06, 0x04, 0x01, 0x01, 0x02, 0x01, 0x01]), "expected INTEGER"],
    ["negative INTEGER", Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01]), "negative INTEGER"],
    ["non-minimal INTEGER", Uint8Array.from([0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]), "non-minimal INTEGER"],
    ["extra element", Uint8Array.from([0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]), "trailing data"],
    ["long-form length not minimal", Uint8Array.from([0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]), "non-minimal length"],
  ];
  for (const [name, der, message] of cases) {
    it(`ECDSA DER: ${name}`, () => {
      expect(() => ecdsaDerToRs(der)).toThrow(SignerError);
      expect(() => ecdsaDerToRs(der)).toThrow(message);
    });
  }
});
