/**
 * signstar-upload-update (ForceCommand of update_upload users): a NetHSM update image on stdin, bounded in size
 * and time, checked offline (magic, fields, "major.minor" version, block count = size), stored atomically in
 * the uploader's spool for signstar-configure, which uploads it to the NetHSM with admin credentials and
 * commits it (or cancels on failure). The vendor signature is checked by the device. Prints a JSON receipt.
 */
import { readHead, takeUploaded, type Uploaded } from "./operator/spool.js";
import { DEFAULT_UPDATE_UPLOAD_MAX_BYTES, MAX_UPDATE_BYTES, MAX_UPDATE_HEADER_BYTES, checkUpdateImage, type UpdateImageInfo } from "../nethsm-backup/index.js";
import { spooledUpload, type SpooledUploadInput } from "./spooled-upload.js";


export type UploadUpdateInput = SpooledUploadInput;

export function uploadUpdate(input: UploadUpdateInput): Promise<string> {
  return spooledUpload(input, {
    kind: "update",
    role: "update_upload",
    program: "signstar-upload-update",
    defaultMaxBytes: DEFAULT_UPDATE_UPLOAD_MAX_BYTES,
    limit: MAX_UPDATE_BYTES,
    limitName: "the update size limit",
    validate: async (file, size) => checkUpdateImage(await readHead(file, Math.min(size, MAX_UPDATE_HEADER_BYTES)), size),
    logFields: (info) => ({ version: info.version }),
    receiptFields: (info) => ({ version: info.version, blocks: info.blocks }),
  });
}

/**
 * For signstar-configure (root): the newest valid update image uploaded by one of `users`, or undefined.
 * Upload it with NetHsmClient.uploadUpdate (admin), then commitUpdate (or cancelUpdate on failure), then consume().
 */
export function takeUploadedUpdate(opts: {
  readonly users: readonly { readonly name: string; readonly uid: number }[];
  readonly maxBytes?: number;
  readonly root?: string;
}): Promise<Uploaded<UpdateImageInfo> | undefined> {
  return takeUploaded(
    "update",
    { users: opts.users, maxBytes: opts.maxBytes ?? DEFAULT_UPDATE_UPLOAD_MAX_BYTES, ...(opts.root !== undefined ? { root: opts.root } : {}) },
    (bytes) => checkUpdateImage(bytes, bytes.length),
  );
}
