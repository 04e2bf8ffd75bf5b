/** Conversions between NetHSM key JSON and the signer model (lib/signing/signer.ts), and KeySetup mapping. */
import type { KeyMechanism, KeySetup, KeyType } from "../../config/model.js";
import type { EcCurve, PublicKey } from "../../signing/signer.js";
import type { KeyDetails, NetHsmKeyType, NetHsmMechanism } from "./api-types.js";
import { NetHsmError } from "./errors.js";

const CURVES: Partial<Record<NetHsmKeyType, { curve: EcCurve; size: number }>> = {
  EC_P256: { curve: "P-256", size: 32 },
  EC_P384: { curve: "P-384", size: 48 },
  EC_P521: { curve: "P-521", size: 66 },
};

function b64(s: string | undefined, what: string): Buffer {
  if (s === undefined || !/^[A-Za-z0-9+/]*={0,3}$/.test(s)) throw new NetHsmError(`${what} is missing or not base64`);
  return Buffer.from(s, "base64");
}

/** The public key of a signing key; throws for key types that cannot make OpenPGP v4 signatures here. */
export function publicKeyOf(details: KeyDetails, keyId: string): PublicKey {
  const pub = details.public;
  const what = `public key of NetHSM key ${keyId}`;
  if (details.type === "Curve25519") {
    const a = b64(pub?.data, what);
    if (a.length !== 32) throw new NetHsmError(`${what}: Ed25519 key is ${a.length} bytes, expected 32`);
    return { kind: "ed25519", a };
  }
  const curve = CURVES[details.type];
  if (curve) {
    const point = b64(pub?.data, what);
    if (point.length !== 1 + 2 * curve.size || point[0] !== 4) throw new NetHsmError(`${what}: not an uncompressed ${curve.curve} point`);
    return { kind: "ecdsa", curve: curve.curve, point };
  }
  if (details.type === "RSA") {
    return { kind: "rsa", n: b64(pub?.modulus, `${what} (modulus)`), e: b64(pub?.publicExponent, `${what} (exponent)`) };
  }
  throw new NetHsmError(`NetHSM key ${keyId} has type ${details.type}, which cannot sign OpenPGP v4 here`);
}

/** The sign mode Signstar uses for a key type (`signstar-sign`'s key info step, archlinux/signstar d6ad4e9). */
export function signModeOf(kind: PublicKey["kind"]): "EdDSA" | "ECDSA" | "PKCS1" {
  return kind === "ed25519" ? "EdDSA" : kind === "ecdsa" ? "ECDSA" : "PKCS1";
}

export const MECHANISM_FOR_MODE: Readonly<Record<"EdDSA" | "ECDSA" | "PKCS1", NetHsmMechanism>> = {
  EdDSA: "EdDSA_Signature",
  ECDSA: "ECDSA_Signature",
  PKCS1: "RSA_Signature_PKCS1",
};

const KEY_TYPE: Readonly<Record<KeyType, NetHsmKeyType>> = {
  Curve25519: "Curve25519",
  EcP256: "EC_P256",
  EcP384: "EC_P384",
  EcP521: "EC_P521",
  Rsa: "RSA",
};
const MECHANISM: Readonly<Record<KeyMechanism, NetHsmMechanism>> = {
  EdDsaSignature: "EdDSA_Signature",
  EcdsaSignature: "ECDSA_Signature",
  RsaSignaturePkcs1: "RSA_Signature_PKCS1",
};

export function netHsmKeyType(t: KeyType): NetHsmKeyType {
  return KEY_TYPE[t];
}

export function netHsmGenerateArgs(setup: KeySetup): { type: NetHsmKeyType; mechanisms: NetHsmMechanism[]; length?: number } {
  return {
    type: KEY_TYPE[setup.keyType],
    mechanisms: setup.keyMechanisms.map((m) => MECHANISM[m]),
    ...(setup.keyType === "Rsa" ? { length: setup.keyLength ?? 4096 } : {}),
  };
}
