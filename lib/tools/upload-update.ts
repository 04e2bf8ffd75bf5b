/**
 * signstar-upload-update (ForceCommand of update_upload users): a NetHSM update image on stdin, bounded in size
 * and time, checked offline (magic, fields, "major.minor" version, block count = size), stored atomically in
 * the uploader's spool for signstar-configure, which uploads it to the NetHSM with admin credentials and
 * commits it (or cancels on failure). The vendor signature is checked by the device. Prints a JSON receipt.
 */
import type { Readable } from "node:stream";
import type { ConfigLocation } from "../config/load.js";
import { SignstarError } from "../errors.js";
import type { LogSink } from "../log/syslog.js";
import type { Caller } from "./caller.js";
import { requireRole } from "./operator/context.js";
import { readHead, receiveUpload, takeUploaded, type Uploaded } from "./operator/spool.js";
import { MAX_UPDATE_HEADER_BYTES, checkUpdateImage, type UpdateImageInfo } from "./operator/update-image.js";
import { checkMaxBytes, DEFAULT_UPLOAD_TIMEOUT_MS } from "./upload-backup.js";

export const DEFAULT_UPDATE_UPLOAD_MAX_BYTES = 512 * 1024 * 1024;
/** Hard ceiling for the configurable bound (the NetHSM stand-in and device accept far less). */
export const MAX_UPDATE_BYTES = 2 * 1024 * 1024 * 1024;

export interface UploadUpdateInput {
  readonly stdin: Readable;
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly stateRoot?: string;
}

export async function uploadUpdate(input: UploadUpdateInput): Promise<string> {
  const { caller, log } = input;
  const maxBytes = checkMaxBytes(input.maxBytes, DEFAULT_UPDATE_UPLOAD_MAX_BYTES, MAX_UPDATE_BYTES, "the update size limit");
  try {
    await requireRole(caller, input.config, ["update_upload"], "signstar-upload-update");
    const receipt = await receiveUpload({
      kind: "update",
      input: input.stdin,
      systemUser: caller.name,
      uid: caller.uid,
      maxBytes,
      timeoutMs: input.timeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS,
      validate: async (file, size) => checkUpdateImage(await readHead(file, Math.min(size, MAX_UPDATE_HEADER_BYTES)), size),
      ...(input.signal ? { signal: input.signal } : {}),
      ...(input.stateRoot !== undefined ? { root: input.stateRoot } : {}),
    });
    const { version, blocks } = receipt.info;
    await log.write("notice", `update uploaded: user=${caller.name} bytes=${receipt.size} sha256=${receipt.sha256} version=${version} outcome=ok`);
    return `${JSON.stringify({ stored: "update", bytes: receipt.size, sha256: receipt.sha256, version, blocks })}\n`;
  } catch (error) {
    const reason = error instanceof SignstarError ? error.message : "internal error";
    await log.write("warning", `update upload refused: user=${caller.name} outcome=error reason=${reason}`);
    throw error;
  }
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
