/**
 * The single import of the native pkcs11js addon, plus the PKCS#11 3.0 constants pkcs11js 2.1.7 lacks.
 * pkcs11js is CommonJS and assigns its exports with a spread, so only the default import works from ESM.
 */
import pkcs11js from "pkcs11js";

export { pkcs11js };
export type Pkcs11Lib = InstanceType<typeof pkcs11js.PKCS11>;
export type Handle = Buffer;

/** PKCS#11 3.0 EdDSA constants (not exported by pkcs11js 2.1.7). */
export const CKK_EC_EDWARDS = 0x40;
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

/** Mechanism names for messages (only the ones this backend uses). */
export function mechanismName(mechanism: number): string {
  switch (mechanism) {
    case CKM_EDDSA:
      return "CKM_EDDSA";
    case CKM_EC_EDWARDS_KEY_PAIR_GEN:
      return "CKM_EC_EDWARDS_KEY_PAIR_GEN";
    case pkcs11js.CKM_ECDSA:
      return "CKM_ECDSA";
    case pkcs11js.CKM_EC_KEY_PAIR_GEN:
      return "CKM_EC_KEY_PAIR_GEN";
    case pkcs11js.CKM_RSA_PKCS:
      return "CKM_RSA_PKCS";
    case pkcs11js.CKM_RSA_PKCS_PSS:
      return "CKM_RSA_PKCS_PSS";
    case pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN:
      return "CKM_RSA_PKCS_KEY_PAIR_GEN";
    default:
      return `mechanism 0x${mechanism.toString(16)}`;
  }
}

let ckrNames: Map<number, string> | undefined;
/** `CKR_*` name of a PKCS#11 return value. */
export function ckrName(code: number): string {
  if (ckrNames === undefined) {
    ckrNames = new Map();
    for (const [name, value] of Object.entries(pkcs11js as unknown as Record<string, unknown>)) {
      if (name.startsWith("CKR_") && typeof value === "number" && !ckrNames.has(value)) ckrNames.set(value, name);
    }
  }
  return ckrNames.get(code) ?? `CKR_0x${code.toString(16)}`;
}

/** The PKCS#11 return value of an error thrown by pkcs11js, if it is one. */
export function ckrOf(e: unknown): number | undefined {
  if (e instanceof Error && "code" in e && typeof e.code === "number" && /^CKR_/.test(e.message) && e.code !== 0) {
    return e.code;
  }
  return undefined;
}
