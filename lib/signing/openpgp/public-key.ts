/**
 * v4 public key packet bodies (RFC 9580 §5.5.2) for the key types Signstar uses:
 * - EdDSA legacy (algo 22): OID 1.3.6.1.4.1.11591.15.1 (2b 06 01 04 01 da 47 0f 01), MPI of 0x40 ‖ A;
 * - ECDSA (algo 19): curve OID (P-256 2a 86 48 ce 3d 03 01 07, P-384 2b 81 04 00 22, P-521 2b 81 04 00 23),
 *   MPI of the uncompressed point;
 * - RSA (algo 1): MPI n, MPI e.
 */
import { OpenPgpError } from "../errors.js";
import { checkPublicKey, curveBytes } from "../public-key.js";
import type { EcCurve, PublicKey } from "../signer.js";
import { concat, mpi, Reader, u32 } from "./packet.js";

export const PublicKeyAlgorithm = { Rsa: 1, Ecdsa: 19, EdDsaLegacy: 22 } as const;
export type PublicKeyAlgorithm = (typeof PublicKeyAlgorithm)[keyof typeof PublicKeyAlgorithm];

const ED25519_OID = Uint8Array.from([0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01]);
const CURVE_OIDS: Record<EcCurve, Uint8Array> = {
  "P-256": Uint8Array.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
  "P-384": Uint8Array.from([0x2b, 0x81, 0x04, 0x00, 0x22]),
  "P-521": Uint8Array.from([0x2b, 0x81, 0x04, 0x00, 0x23]),
};

export function algorithmOf(pk: PublicKey): PublicKeyAlgorithm {
  return pk.kind === "ed25519" ? PublicKeyAlgorithm.EdDsaLegacy : pk.kind === "ecdsa" ? PublicKeyAlgorithm.Ecdsa : PublicKeyAlgorithm.Rsa;
}

function oidField(oid: Uint8Array): Uint8Array {
  return concat(Uint8Array.from([oid.length]), oid);
}

function keyMaterial(pk: PublicKey): Uint8Array {
  switch (pk.kind) {
    case "ed25519":
      return concat(oidField(ED25519_OID), mpi(concat(Uint8Array.from([0x40]), pk.a)));
    case "ecdsa":
      return concat(oidField(CURVE_OIDS[pk.curve]), mpi(pk.point));
    case "rsa":
      return concat(mpi(pk.n), mpi(pk.e));
  }
}

export function creationSeconds(created: Date): number {
  const t = Math.floor(created.getTime() / 1000);
  if (!Number.isInteger(t) || t < 0 || t > 0xffffffff) throw new OpenPgpError(`creation time ${String(created)} is outside the OpenPGP range`);
  return t;
}

/** Body of a v4 public key packet: 04 ‖ u32 creation time ‖ algorithm ‖ key material. */
export function publicKeyPacketBody(pk: PublicKey, created: Date): Uint8Array {
  checkPublicKey(pk);
  return concat(Uint8Array.from([4]), u32(creationSeconds(created)), Uint8Array.from([algorithmOf(pk)]), keyMaterial(pk));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Parses a public key (or subkey) packet body; only v4 and the supported algorithms. */
export function parsePublicKeyPacketBody(body: Uint8Array): { publicKey: PublicKey; created: Date } {
  const r = new Reader(body, "public key packet");
  const version = r.byte();
  if (version !== 4) throw new OpenPgpError(`public key packet: version ${version} is not supported (only v4)`);
  const created = new Date(r.u32() * 1000);
  const algo = r.byte();
  let publicKey: PublicKey;
  if (algo === PublicKeyAlgorithm.Rsa) {
    const n = r.mpi();
    const e = r.mpi();
    publicKey = { kind: "rsa", n: n.slice(), e: e.slice() };
  } else if (algo === PublicKeyAlgorithm.Ecdsa || algo === PublicKeyAlgorithm.EdDsaLegacy) {
    const oidLen = r.byte();
    if (oidLen === 0 || oidLen === 0xff) throw new OpenPgpError("public key packet: reserved curve OID length");
    const oid = r.take(oidLen);
    const point = r.mpi();
    if (algo === PublicKeyAlgorithm.EdDsaLegacy) {
      if (!sameBytes(oid, ED25519_OID)) throw new OpenPgpError("public key packet: EdDSA curve is not Ed25519");
      if (point.length !== 33 || point[0] !== 0x40) throw new OpenPgpError("public key packet: Ed25519 point must be 0x40 ‖ 32 bytes");
      publicKey = { kind: "ed25519", a: point.slice(1) };
    } else {
      const curve = (Object.keys(CURVE_OIDS) as EcCurve[]).find((c) => sameBytes(CURVE_OIDS[c], oid));
      if (curve === undefined) throw new OpenPgpError("public key packet: ECDSA curve is not P-256, P-384 or P-521");
      if (point.length !== 1 + 2 * curveBytes(curve)) throw new OpenPgpError(`public key packet: ${curve} point has the wrong size`);
      publicKey = { kind: "ecdsa", curve, point: point.slice() };
    }
  } else {
    throw new OpenPgpError(`public key packet: algorithm ${algo} is not supported (1 RSA, 19 ECDSA, 22 EdDSA)`);
  }
  if (r.remaining !== 0) throw new OpenPgpError("public key packet: trailing data");
  try {
    checkPublicKey(publicKey);
  } catch (e) {
    throw new OpenPgpError(`public key packet: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { publicKey, created };
}
