/**
 * signstar-upload-update (ForceCommand of update_upload users): a NetHSM update image on stdin, bounded in size
 * and time, its header checked offline, stored atomically in the uploader's spool (lib/spool/uploads.ts) for
 * signstar-configure, which uploads it to the NetHSM with admin credentials and commits it (or cancels on
 * failure); the device checks the vendor signature. Prints a JSON receipt.
 */
import { UPDATE_UPLOAD, spooledUpload, type SpooledUploadInput } from "../spool/uploads.js";

/** maxBytes: default DEFAULT_UPDATE_UPLOAD_MAX_BYTES, at most MAX_UPDATE_BYTES (lib/nethsm-backup). */
export type UploadUpdateInput = SpooledUploadInput;

export function uploadUpdate(input: UploadUpdateInput): Promise<string> {
  return spooledUpload(input, UPDATE_UPLOAD);
}
