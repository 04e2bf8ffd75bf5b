/** v4 fingerprints and key IDs (RFC 9580 §5.5.4.2): SHA-1 over 0x99 ‖ u16 body length ‖ key packet body. */
import { createHash } from "node:crypto";
import type { PublicKey } from "../signer.js";
import { publicKeyPacketBody } from "./public-key.js";
import { u16 } from "./packet.js";

export function fingerprintOfBody(body: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(Uint8Array.from([0x99])).update(u16(body.length)).update(body).digest());
}

export function v4Fingerprint(publicKey: PublicKey, created: Date): Uint8Array {
  return fingerprintOfBody(publicKeyPacketBody(publicKey, created));
}

/** The key ID: the last 8 bytes of a v4 fingerprint. */
export function keyIdOf(fpr: Uint8Array): Uint8Array {
  return fpr.slice(fpr.length - 8);
}

/** Uppercase hex, as gpg and sq print fingerprints. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex").toUpperCase();
}
