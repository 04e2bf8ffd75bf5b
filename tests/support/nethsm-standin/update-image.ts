/** Builds a NetHSM update image signed with a test vendor key (for the stand-in's /system/update). */
import { createSign, type KeyObject } from "node:crypto";

function field(b: Buffer): Buffer {
  const h = Buffer.alloc(3);
  h[0] = b.length >>> 16;
  h.writeUInt16BE(b.length & 0xffff, 1);
  return Buffer.concat([h, b]);
}

export function makeUpdateImage(vendorKey: KeyObject, changelog: string, version: string, image: Buffer = Buffer.alloc(512)): Buffer {
  if (image.length % 512 !== 0) throw new Error("update image must be a multiple of 512 bytes");
  const blocks = Buffer.alloc(4);
  blocks.writeUInt32BE(image.length / 512);
  const signed = Buffer.concat([field(Buffer.from(changelog)), field(Buffer.from(version)), blocks, image]);
  const signature = createSign("sha256").update(signed).sign(vendorKey);
  return Buffer.concat([Buffer.from("_NETHSM_UPDATE_\x00", "latin1"), field(signature), signed]);
}
