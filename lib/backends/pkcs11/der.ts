/** The few DER pieces PKCS#11 key attributes need: OCTET STRING unwrap and the curve OIDs of CKA_EC_PARAMS. */
import type { EcCurve } from "../../signing/signer.js";

export type CurveName = EcCurve | "Ed25519";

/** DER-encoded OBJECT IDENTIFIERs (tag 06 included) as hex, as they appear in CKA_EC_PARAMS. */
export const CURVE_OIDS: Readonly<Record<CurveName, string>> = {
  Ed25519: "06032b6570", // 1.3.101.112
  "P-256": "06082a8648ce3d030107", // 1.2.840.10045.3.1.7
  "P-384": "06052b81040022", // 1.3.132.0.34
  "P-521": "06052b81040023", // 1.3.132.0.35
};
/** PKCS#11 3.0 also allows the PrintableString "edwards25519" for Ed25519. */
const ED25519_PRINTABLE = "130c656477617264733235353139";

export function curveOfEcParams(params: Uint8Array): CurveName | undefined {
  const hex = Buffer.from(params).toString("hex");
  if (hex === ED25519_PRINTABLE) return "Ed25519";
  for (const [name, oid] of Object.entries(CURVE_OIDS) as [CurveName, string][]) if (oid === hex) return name;
  return undefined;
}

export function ecParamsOf(curve: CurveName): Buffer {
  return Buffer.from(CURVE_OIDS[curve], "hex");
}

/** Field size in bytes. */
export function coordinateLength(curve: CurveName): number {
  switch (curve) {
    case "Ed25519":
    case "P-256":
      return 32;
    case "P-384":
      return 48;
    case "P-521":
      return 66;
  }
}

/**
 * CKA_EC_POINT is a DER OCTET STRING around the point (SoftHSM, most modules); a few modules return the raw
 * point. Returns the raw point if `value` is exactly one OCTET STRING of the expected length, or already raw.
 */
export function unwrapEcPoint(value: Uint8Array, expectedLength: number): Uint8Array | undefined {
  if (value.length === expectedLength && (expectedLength === 32 || value[0] === 0x04)) {
    // Raw, unless it also parses as a wrapper of a shorter point (not possible for the lengths used here).
    const inner = parseOctetString(value);
    if (inner === undefined || inner.length !== expectedLength) return value;
  }
  const inner = parseOctetString(value);
  return inner !== undefined && inner.length === expectedLength ? inner : undefined;
}

function parseOctetString(der: Uint8Array): Uint8Array | undefined {
  if (der.length < 2 || der[0] !== 0x04) return undefined;
  const first = der[1] as number;
  let len: number;
  let off: number;
  if (first < 0x80) {
    len = first;
    off = 2;
  } else if (first === 0x81 && der.length >= 3) {
    len = der[2] as number;
    off = 3;
  } else if (first === 0x82 && der.length >= 4) {
    len = ((der[2] as number) << 8) | (der[3] as number);
    off = 4;
  } else {
    return undefined;
  }
  if (off + len !== der.length) return undefined;
  return der.subarray(off);
}

/** Big-endian unsigned integer without leading zero bytes (at least one byte). */
export function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}
