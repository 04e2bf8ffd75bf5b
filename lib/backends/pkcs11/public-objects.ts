/**
 * What anyone who can open a PKCS#11 token may read without a PIN (a public, read-only session): whether the
 * token is there, token information, the public key objects and Signstar's OpenPGP certificate data objects
 * (CKA_PRIVATE = false, ./objects.ts). Used by the metrics and key-certificates tools, which hold no token PIN,
 * and by signstar-configure to tell a missing token from a wrong PIN.
 */
import type { Pkcs11KeySelector, TokenSelector } from "../../config/model.js";
import type { PublicKey } from "../../signing/signer.js";
import { Pkcs11KeyNotFoundError, Pkcs11TokenNotFoundError } from "./errors.js";
import { keyRefOf } from "./key-ref.js";
import { DEFAULT_TIMEOUT_MS } from "./module.js";
import { CERTIFICATE_APPLICATION, findObjects, labelAndId, readCertificate, readPublicKey, selectorTemplate } from "./objects.js";
import { pkcs11js } from "./pkcs11js.js";
import { TokenSession, trimField } from "./session.js";

/** Whether the module has the token (opens and closes a public session); other failures are thrown. */
export function pkcs11TokenPresent(module: string, token: TokenSelector, timeoutMs = DEFAULT_TIMEOUT_MS): boolean {
  try {
    TokenSession.open({ module, token, timeoutMs, rw: false }).close();
    return true;
  } catch (error) {
    if (error instanceof Pkcs11TokenNotFoundError) return false;
    throw error;
  }
}

export interface TokenFacts {
  readonly label: string;
  readonly serial: string;
  readonly manufacturer: string;
  readonly model: string;
  readonly flags: number;
  /** Public key objects visible without login (one per Signstar key). */
  readonly publicKeys: number;
  /** Signstar OpenPGP certificate data objects. */
  readonly certificates: number;
  /** undefined where the token reports CK_UNAVAILABLE_INFORMATION. */
  readonly sessionCount?: number;
  readonly maxSessionCount?: number;
  readonly freePublicMemory?: number;
  readonly totalPublicMemory?: number;
  readonly freePrivateMemory?: number;
  readonly totalPrivateMemory?: number;
}

/** CK_UNAVAILABLE_INFORMATION (~0) and CK_EFFECTIVELY_INFINITE (0 for max counts) become undefined. */
function known(v: number, zeroMeansUnknown = false): number | undefined {
  if (!Number.isFinite(v) || v < 0 || v >= 2 ** 32 - 1) return undefined;
  if (zeroMeansUnknown && v === 0) return undefined;
  return v;
}

export function readTokenFacts(module: string, token: TokenSelector, timeoutMs = DEFAULT_TIMEOUT_MS): TokenFacts {
  const s = TokenSession.open({ module, token, timeoutMs, rw: false });
  try {
    const info = s.do("C_GetTokenInfo", (lib) => lib.C_GetTokenInfo(s.token.slot));
    const publicKeys = s.do("C_FindObjects", (lib, session) => findObjects(lib, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }]).length);
    const certificates = s.do(
      "C_FindObjects",
      (lib, session) =>
        findObjects(lib, session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
          { type: pkcs11js.CKA_APPLICATION, value: Buffer.from(CERTIFICATE_APPLICATION, "utf8") },
        ]).length,
    );
    const opt = (k: string, v: number | undefined): Record<string, number> => (v === undefined ? {} : { [k]: v });
    return {
      label: trimField(info.label),
      serial: trimField(info.serialNumber),
      manufacturer: trimField(info.manufacturerID),
      model: trimField(info.model),
      flags: info.flags,
      publicKeys,
      certificates,
      ...opt("sessionCount", known(info.sessionCount)),
      ...opt("maxSessionCount", known(info.maxSessionCount, true)),
      ...opt("freePublicMemory", known(info.freePublicMemory)),
      ...opt("totalPublicMemory", known(info.totalPublicMemory)),
      ...opt("freePrivateMemory", known(info.freePrivateMemory)),
      ...opt("totalPrivateMemory", known(info.totalPrivateMemory)),
    };
  } finally {
    s.close();
  }
}

export interface PublicKeyAndCertificate {
  readonly ref: string;
  readonly publicKey: PublicKey;
  readonly certificate?: Uint8Array;
}

/** The public key object selected like the private key (same CKA_LABEL / CKA_ID) and its certificate object. */
export function readPublicKeyAndCertificate(
  module: string,
  token: TokenSelector,
  key: Pkcs11KeySelector,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): PublicKeyAndCertificate {
  const ref = keyRefOf(key);
  const s = TokenSession.open({ module, token, timeoutMs, rw: false });
  try {
    return s.do(
      "C_FindObjects",
      (lib, session) => {
        const pubs = findObjects(lib, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, selectorTemplate(key)]);
        if (pubs.length !== 1 || pubs[0] === undefined) {
          throw new Pkcs11KeyNotFoundError(`${pubs.length === 0 ? "no" : pubs.length} public key objects ${ref} on token ${s.ctx.token ?? ""}`);
        }
        const ctx = `token ${s.ctx.token ?? ""}, key ${ref}`;
        const publicKey = readPublicKey(lib, session, pubs[0], ctx);
        const certificate = readCertificate(lib, session, labelAndId(lib, session, pubs[0]), ctx);
        return { ref, publicKey, ...(certificate ? { certificate } : {}) };
      },
      { key: ref },
    );
  } finally {
    s.close();
  }
}
