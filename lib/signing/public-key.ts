/**
 * Helpers around the PublicKey type of signer.ts: equality, conversion from/to node:crypto KeyObjects (via JWK),
 * curve sizes and short descriptions for messages.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { SigningInputError } from "./errors.js";
import type { EcCurve, PublicKey } from "./signer.js";

/** Field size in bytes (= size of one coordinate, of r and of s). */
export function curveBytes(curve: EcCurve): number {
  return curve === "P-256" ? 32 : curve === "P-384" ? 48 : 66;
}

function stripZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function publicKeysEqual(a: PublicKey, b: PublicKey): boolean {
  if (a.kind === "ed25519" && b.kind === "ed25519") return bytesEqual(a.a, b.a);
  if (a.kind === "ecdsa" && b.kind === "ecdsa") return a.curve === b.curve && bytesEqual(a.point, b.point);
  if (a.kind === "rsa" && b.kind === "rsa") return bytesEqual(stripZeros(a.n), stripZeros(b.n)) && bytesEqual(stripZeros(a.e), stripZeros(b.e));
  return false;
}

/** "ed25519", "ecdsa P-256", "rsa 4096". */
export function describePublicKey(pk: PublicKey): string {
  if (pk.kind === "ed25519") return "ed25519";
  if (pk.kind === "ecdsa") return `ecdsa ${pk.curve}`;
  return `rsa ${stripZeros(pk.n).length * 8}`;
}

function b64u(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64url");
}

function fromB64u(s: string | undefined, what: string): Uint8Array {
  if (s === undefined) throw new SigningInputError(`public key: JWK has no ${what}`);
  return new Uint8Array(Buffer.from(s, "base64url"));
}

/** Checks the shape of a PublicKey (point prefix and sizes); throws SigningInputError. */
export function checkPublicKey(pk: PublicKey): PublicKey {
  if (pk.kind === "ed25519") {
    if (pk.a.length !== 32) throw new SigningInputError(`public key: ed25519 key must be 32 bytes, got ${pk.a.length}`);
  } else if (pk.kind === "ecdsa") {
    const n = curveBytes(pk.curve);
    if (pk.point.length !== 1 + 2 * n || pk.point[0] !== 4) {
      throw new SigningInputError(`public key: ${pk.curve} point must be uncompressed (04 ‖ X ‖ Y, ${1 + 2 * n} bytes)`);
    }
  } else {
    const bits = stripZeros(pk.n).length * 8;
    if (bits < 1024 || bits > 16384) throw new SigningInputError(`public key: RSA modulus of ${bits} bits is not supported`);
    if (stripZeros(pk.e).length === 0 || pk.e.length > 8) throw new SigningInputError("public key: RSA exponent is invalid");
  }
  return pk;
}

const CURVES: Record<string, EcCurve> = { "P-256": "P-256", "P-384": "P-384", "P-521": "P-521" };

/** The PublicKey of a node:crypto key (public or private). Supports Ed25519, EC P-256/384/521 and RSA. */
export function publicKeyFromKeyObject(key: KeyObject): PublicKey {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const jwk: JsonWebKey = pub.export({ format: "jwk" });
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return checkPublicKey({ kind: "ed25519", a: fromB64u(jwk.x, "x") });
  if (jwk.kty === "EC") {
    const curve = CURVES[jwk.crv ?? ""];
    if (curve === undefined) throw new SigningInputError(`public key: unsupported curve ${jwk.crv ?? "(none)"}`);
    const n = curveBytes(curve);
    const point = new Uint8Array(1 + 2 * n);
    point[0] = 4;
    const x = fromB64u(jwk.x, "x");
    const y = fromB64u(jwk.y, "y");
    point.set(x, 1 + n - x.length);
    point.set(y, 1 + 2 * n - y.length);
    return checkPublicKey({ kind: "ecdsa", curve, point });
  }
  if (jwk.kty === "RSA") return checkPublicKey({ kind: "rsa", n: fromB64u(jwk.n, "n"), e: fromB64u(jwk.e, "e") });
  throw new SigningInputError(`public key: unsupported key type ${key.asymmetricKeyType ?? "(unknown)"}`);
}

/** The JWK of a PublicKey (canonical: coordinates padded to the field size, RSA values without leading zeros). */
export function publicKeyToJwk(pk: PublicKey): JsonWebKey {
  if (pk.kind === "ed25519") return { kty: "OKP", crv: "Ed25519", x: b64u(pk.a) };
  if (pk.kind === "ecdsa") {
    const n = curveBytes(pk.curve);
    return { kty: "EC", crv: pk.curve, x: b64u(pk.point.subarray(1, 1 + n)), y: b64u(pk.point.subarray(1 + n)) };
  }
  return { kty: "RSA", n: b64u(stripZeros(pk.n)), e: b64u(stripZeros(pk.e)) };
}

export function publicKeyToKeyObject(pk: PublicKey): KeyObject {
  return createPublicKey({ key: publicKeyToJwk(checkPublicKey(pk)), format: "jwk" });
}
