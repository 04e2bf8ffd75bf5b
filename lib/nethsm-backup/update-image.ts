/**
 * Offline structural check of a NetHSM update image, the body of the NetHSM API's `POST /system/update`, as the
 * device reads it (keyfender's System.update, Nitrokey/nethsm `src/keyfender/hsm.ml` @ 4e192fb9):
 * `"_NETHSM_UPDATE_\x00"` ‖ field(signature) ‖ field(changelog) ‖ field(version "maj.min") ‖ u32be(blocks) ‖
 * image of exactly blocks × 512 bytes; a field is a 3-byte big-endian length plus bytes. The vendor signature
 * cannot be checked here (the device holds the vendor key); the device checks it when configure uploads it.
 */
import { InputError } from "../errors.js";

export const UPDATE_MAGIC = Buffer.from("_NETHSM_UPDATE_\x00", "latin1");
/** Default bound of signstar-upload-update (the administrator can set another, up to MAX_UPDATE_BYTES). */
export const DEFAULT_UPDATE_UPLOAD_MAX_BYTES = 512 * 1024 * 1024;
/** Hard ceiling for the configurable bound (the NetHSM stand-in and device accept far less). */
export const MAX_UPDATE_BYTES = 2 * 1024 * 1024 * 1024;
/** The header (magic, fields, block count) must lie within this many bytes. */
export const MAX_UPDATE_HEADER_BYTES = 1024 * 1024;
const MAX_SIGNATURE_BYTES = 4096;

export interface UpdateImageInfo {
  readonly version: string;
  /** Release notes as sent (UTF-8, control characters other than newline and tab replaced). */
  readonly changelog: string;
  readonly blocks: number;
  readonly signatureBytes: number;
}

/**
 * Checks an update image given its first bytes (`head`, at least the header, or the whole image) and its total
 * size. Throws InputError naming the first defect.
 */
export function checkUpdateImage(head: Uint8Array, totalSize: number): UpdateImageInfo {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length < UPDATE_MAGIC.length || !b.subarray(0, UPDATE_MAGIC.length).equals(UPDATE_MAGIC)) {
    throw new InputError("the update image does not start with _NETHSM_UPDATE_ and version 0 (not a NetHSM update image)");
  }
  let pos = UPDATE_MAGIC.length;
  const field = (what: string): Buffer => {
    if (pos + 3 > b.length) throw new InputError(`the update image is truncated in the ${what} length`);
    const len = (b[pos]! << 16) | b.readUInt16BE(pos + 1);
    pos += 3;
    if (pos + len > b.length) throw new InputError(`the update image is truncated in the ${what} (${len} bytes announced)`);
    const out = b.subarray(pos, pos + len);
    pos += len;
    return out;
  };
  const signature = field("signature");
  if (signature.length === 0 || signature.length > MAX_SIGNATURE_BYTES) {
    throw new InputError(`the update image signature has ${signature.length} bytes (1 to ${MAX_SIGNATURE_BYTES} allowed)`);
  }
  const changelogBytes = field("changelog");
  let changelog: string;
  try {
    changelog = new TextDecoder("utf-8", { fatal: true }).decode(changelogBytes);
  } catch {
    throw new InputError("the update image changelog is not valid UTF-8");
  }
  const version = field("version").toString("latin1");
  if (!/^\d{1,5}\.\d{1,5}$/.test(version)) throw new InputError(`the update image version "${version.slice(0, 40)}" is not "major.minor"`);
  if (pos + 4 > b.length) throw new InputError("the update image is truncated in the block count");
  const blocks = b.readUInt32BE(pos);
  pos += 4;
  const expected = pos + blocks * 512;
  if (totalSize !== expected) {
    throw new InputError(`the update image has ${totalSize} bytes, but its header announces ${blocks} blocks of 512 bytes (${expected} bytes in all)`);
  }
  // eslint-disable-next-line no-control-regex
  return { version, changelog: changelog.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, " "), blocks, signatureBytes: signature.length };
}
