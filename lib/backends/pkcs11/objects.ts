/**
 * Finding key objects and reading their public halves; the OpenPGP certificate data object.
 *
 * Certificate storage (the PKCS#11 equivalent of NetHSM's per-key certificate): one CKO_DATA object with
 * CKA_APPLICATION = "signstar-openpgp-certificate", CKA_LABEL = the key's CKA_LABEL (or `id:<hex>` of its
 * CKA_ID when the key has no label; SoftHSM rejects CKA_ID on data objects), CKA_VALUE = the binary v4
 * certificate, CKA_TOKEN = true, CKA_PRIVATE = false. The link is derived from the key's own attributes, so a
 * key selected by label or by id finds the same certificate.
 */
import type { Pkcs11KeySelector } from "../../config/model.js";
import { MAX_CERTIFICATE_BYTES } from "../../signing/openpgp/certificate.js";
import type { PublicKey } from "../../signing/signer.js";
import { coordinateLength, curveOfEcParams, stripLeadingZeros, unwrapEcPoint } from "./der.js";
import { Pkcs11Error, Pkcs11KeyNotFoundError, where } from "./errors.js";
import { keyRefOf } from "./key-ref.js";
import { CKK_EC_EDWARDS, type Handle, type Pkcs11Lib, pkcs11js } from "./pkcs11js.js";
import type { TokenSession } from "./session.js";

export const CERTIFICATE_APPLICATION = "signstar-openpgp-certificate";
const MAX_OBJECTS = 10_000;

export interface KeyObjects {
  readonly privateKey: Handle;
  readonly publicKey: PublicKey;
  /** CKA_LABEL of the private key ("" if none). */
  readonly label: string;
  /** CKA_ID of the private key as lowercase hex ("" if none). */
  readonly id: string;
  /** Canonical display ref: label:x if labelled, else id:hex. */
  readonly ref: string;
}

export function selectorTemplate(sel: Pkcs11KeySelector): { type: number; value: Buffer | string } {
  return "label" in sel
    ? { type: pkcs11js.CKA_LABEL, value: Buffer.from(sel.label, "utf8") }
    : { type: pkcs11js.CKA_ID, value: Buffer.from(sel.id, "hex") };
}

export function findObjects(lib: Pkcs11Lib, session: Handle, template: { type: number; value?: number | boolean | string | Buffer }[]): Handle[] {
  lib.C_FindObjectsInit(session, template);
  try {
    const out: Handle[] = [];
    for (;;) {
      const batch = lib.C_FindObjects(session, 64);
      out.push(...batch);
      if (batch.length < 64 || out.length >= MAX_OBJECTS) return out;
    }
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

function attr(lib: Pkcs11Lib, session: Handle, obj: Handle, type: number): Buffer {
  const [r] = lib.C_GetAttributeValue(session, obj, [{ type }]);
  if (r === undefined) throw new Error("attribute missing");
  return r.value;
}

function ulong(b: Buffer): number {
  // CK_ULONG comes back little-endian in the platform's word size (8 bytes on x86_64).
  return b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.readUInt32LE(0);
}

/** Reads label and id of an object. */
export function labelAndId(lib: Pkcs11Lib, session: Handle, obj: Handle): { label: string; id: string } {
  const attrs = lib.C_GetAttributeValue(session, obj, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_ID }]);
  return { label: attrs[0]?.value.toString("utf8") ?? "", id: attrs[1]?.value.toString("hex") ?? "" };
}

/** Reads the public key from a public key object (or, for RSA, a private key object). */
export function readPublicKey(lib: Pkcs11Lib, session: Handle, obj: Handle, ctx: string): PublicKey {
  const keyType = ulong(attr(lib, session, obj, pkcs11js.CKA_KEY_TYPE));
  if (keyType === pkcs11js.CKK_RSA) {
    const n = stripLeadingZeros(attr(lib, session, obj, pkcs11js.CKA_MODULUS));
    const e = stripLeadingZeros(attr(lib, session, obj, pkcs11js.CKA_PUBLIC_EXPONENT));
    return { kind: "rsa", n: new Uint8Array(n), e: new Uint8Array(e) };
  }
  if (keyType === pkcs11js.CKK_EC || keyType === CKK_EC_EDWARDS) {
    const params = attr(lib, session, obj, pkcs11js.CKA_EC_PARAMS);
    const curve = curveOfEcParams(params);
    if (curve === undefined || (curve === "Ed25519") !== (keyType === CKK_EC_EDWARDS)) {
      throw new Pkcs11Error(`${ctx}: unsupported curve (CKA_EC_PARAMS ${params.toString("hex")})`);
    }
    const point = attr(lib, session, obj, pkcs11js.CKA_EC_POINT);
    if (curve === "Ed25519") {
      const a = unwrapEcPoint(point, 32);
      if (a === undefined) throw new Pkcs11Error(`${ctx}: malformed Ed25519 CKA_EC_POINT`);
      return { kind: "ed25519", a: new Uint8Array(a) };
    }
    const raw = unwrapEcPoint(point, 1 + 2 * coordinateLength(curve));
    if (raw === undefined || raw[0] !== 0x04) throw new Pkcs11Error(`${ctx}: malformed ${curve} CKA_EC_POINT`);
    return { kind: "ecdsa", curve, point: new Uint8Array(raw) };
  }
  throw new Pkcs11Error(`${ctx}: unsupported key type 0x${keyType.toString(16)} (need Ed25519, P-256/384/521 or RSA)`);
}

/** The unique private key matching `sel`, with its public key. */
export function findKey(s: TokenSession, sel: Pkcs11KeySelector): KeyObjects {
  const ref = keyRefOf(sel);
  return s.do(
    "C_FindObjects",
    (lib, session) => {
      const priv = findObjects(lib, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, selectorTemplate(sel)]);
      if (priv.length === 0 || priv[0] === undefined) {
        throw new Pkcs11KeyNotFoundError(`no private key ${ref} on ${where(s.ctx)}`);
      }
      if (priv.length > 1) {
        throw new Pkcs11KeyNotFoundError(`${priv.length} private keys match ${ref} on ${where(s.ctx)}; select the key by id`);
      }
      return keyObjects(lib, session, priv[0], `${where(s.ctx)}, key ${ref}`);
    },
    { key: ref },
  );
}

/** Completes a private key handle with its public key (public object with the same CKA_ID, else label). */
export function keyObjects(lib: Pkcs11Lib, session: Handle, privateKey: Handle, ctx: string): KeyObjects {
  const { label, id } = labelAndId(lib, session, privateKey);
  const ref = label !== "" ? `label:${label}` : `id:${id}`;
  const link = id !== "" ? { type: pkcs11js.CKA_ID, value: Buffer.from(id, "hex") } : { type: pkcs11js.CKA_LABEL, value: Buffer.from(label, "utf8") };
  const pubs = findObjects(lib, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, link]);
  let publicKey: PublicKey;
  if (pubs.length >= 1 && pubs[0] !== undefined) {
    publicKey = readPublicKey(lib, session, pubs[0], ctx);
  } else {
    // RSA private key objects carry modulus and exponent; EC ones do not carry the point.
    try {
      publicKey = readPublicKey(lib, session, privateKey, ctx);
    } catch {
      throw new Pkcs11KeyNotFoundError(`${ctx}: the public key object of this key is missing`);
    }
  }
  return { privateKey, publicKey, label, id, ref };
}

/** The CKA_LABEL of the certificate data object of a key. */
export function certificateLink(key: { label: string; id: string }): string {
  return key.label !== "" ? key.label : `id:${key.id}`;
}

function certificateTemplate(key: { label: string; id: string }): { type: number; value: number | string | Buffer }[] {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_APPLICATION, value: Buffer.from(CERTIFICATE_APPLICATION, "utf8") },
    { type: pkcs11js.CKA_LABEL, value: Buffer.from(certificateLink(key), "utf8") },
  ];
}

export function findCertificateObjects(lib: Pkcs11Lib, session: Handle, key: { label: string; id: string }): Handle[] {
  return findObjects(lib, session, certificateTemplate(key));
}

export function readCertificate(lib: Pkcs11Lib, session: Handle, key: { label: string; id: string }, ctx: string): Uint8Array | undefined {
  const objs = findCertificateObjects(lib, session, key);
  if (objs.length === 0 || objs[0] === undefined) return undefined;
  if (objs.length > 1) throw new Pkcs11Error(`${ctx}: ${objs.length} certificate objects for this key`);
  const value = attr(lib, session, objs[0], pkcs11js.CKA_VALUE);
  if (value.length === 0 || value.length > MAX_CERTIFICATE_BYTES) {
    throw new Pkcs11Error(`${ctx}: stored certificate has ${value.length} bytes (1–${MAX_CERTIFICATE_BYTES} allowed)`);
  }
  return new Uint8Array(value);
}

export function writeCertificate(lib: Pkcs11Lib, session: Handle, key: { label: string; id: string }, cert: Uint8Array): void {
  for (const h of findCertificateObjects(lib, session, key)) lib.C_DestroyObject(session, h);
  lib.C_CreateObject(session, [
    ...certificateTemplate(key),
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: true },
    { type: pkcs11js.CKA_VALUE, value: Buffer.from(cert) },
  ]);
}
