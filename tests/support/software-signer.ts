/**
 * A Signer over a node:crypto private key, for tests and demos (never for production keys: those live in HSMs).
 * - Ed25519: PureEdDSA over the 64-byte digest (as OpenPGP legacy EdDSA and NetHSM do) → [R, S].
 * - RSA: PKCS#1 v1.5 "private encrypt" of DigestInfo(SHA-512) ‖ digest → [s].
 * - ECDSA: node:crypto only signs messages it hashes itself, but OpenPGP needs a signature over a given digest.
 *   We compute ECDSA from its definition: k·G by OpenSSL's scalar multiplication (ECDH with private key k),
 *   r = x(k·G) mod n, s = k⁻¹(e + r·d) mod n with BigInt arithmetic (e = the truncated digest from
 *   hsmSigningInput). The modular arithmetic is not constant-time, one more reason to keep this to tests/demos.
 */
import { constants, createECDH, privateEncrypt, randomBytes, sign, type KeyObject } from "node:crypto";
import { SignerError } from "../../lib/signing/errors.js";
import { hsmSigningInput, splitFixed } from "../../lib/signing/hsm-input.js";
import { curveBytes, publicKeyFromKeyObject } from "../../lib/signing/public-key.js";
import type { EcCurve, Signer } from "../../lib/signing/signer.js";

const ORDER: Record<EcCurve, bigint> = {
  "P-256": 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  "P-384": 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  "P-521":
    0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
};
const OPENSSL_CURVE: Record<EcCurve, string> = { "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1" };

function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt("0x" + Buffer.from(b).toString("hex"));
}

function toBytes(v: bigint, len: number): Uint8Array {
  return new Uint8Array(Buffer.from(v.toString(16).padStart(2 * len, "0"), "hex"));
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
  }
  return result;
}

function bitLength(v: bigint): number {
  return v.toString(2).length;
}

/** ECDSA over an already hashed (and truncated) input; returns r ‖ s, each padded to the field size. */
export function ecdsaSignPrehashed(curve: EcCurve, d: bigint, input: Uint8Array): Uint8Array {
  const n = ORDER[curve];
  const size = curveBytes(curve);
  const nBits = bitLength(n);
  let e = toBigInt(input);
  const inputBits = input.length * 8;
  if (inputBits > nBits) e >>= BigInt(inputBits - nBits);
  const ecdh = createECDH(OPENSSL_CURVE[curve]);
  for (let attempt = 0; attempt < 64; attempt++) {
    const kBytes = randomBytes(size);
    if (nBits % 8 !== 0) kBytes[0] = (kBytes[0] ?? 0) & ((1 << nBits % 8) - 1);
    const k = toBigInt(kBytes);
    if (k === 0n || k >= n) continue;
    ecdh.setPrivateKey(kBytes);
    const kG = ecdh.getPublicKey(); // 04 ‖ X ‖ Y
    const r = toBigInt(kG.subarray(1, 1 + size)) % n;
    if (r === 0n) continue;
    const s = (modPow(k, n - 2n, n) * ((e + r * d) % n)) % n;
    if (s === 0n) continue;
    const out = new Uint8Array(2 * size);
    out.set(toBytes(r, size));
    out.set(toBytes(s, size), size);
    return out;
  }
  throw new SignerError(`software ECDSA ${curve}: no usable nonce found`);
}

export function softwareSigner(privateKey: KeyObject): Signer {
  if (privateKey.type !== "private") throw new SignerError("software signer needs a private key");
  const publicKey = publicKeyFromKeyObject(privateKey);
  let signDigest: (digest: Uint8Array) => Promise<Uint8Array[]>;
  switch (publicKey.kind) {
    case "ed25519":
      signDigest = async (digest) => splitFixed(new Uint8Array(sign(null, hsmSigningInput(publicKey, digest), privateKey)));
      break;
    case "rsa":
      signDigest = async (digest) => [
        new Uint8Array(privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, hsmSigningInput(publicKey, digest))),
      ];
      break;
    case "ecdsa": {
      const jwk = privateKey.export({ format: "jwk" });
      if (jwk.d === undefined) throw new SignerError("software signer: EC private key has no scalar");
      const d = toBigInt(new Uint8Array(Buffer.from(jwk.d, "base64url")));
      signDigest = async (digest) => splitFixed(ecdsaSignPrehashed(publicKey.curve, d, hsmSigningInput(publicKey, digest)));
      break;
    }
  }
  return { publicKey, signDigest };
}
