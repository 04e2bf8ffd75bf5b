/**
 * The text form of one share (see docs/shares.md):
 *
 *   signstar-share-v1:<set-id>:<iteration>:<threshold>-of-<shares>:<index>:<data>:<checksum>
 *
 * set-id: 16 lowercase hex digits (64 random bits); iteration: the config iteration (decimal, u32);
 * threshold/shares: decimal, 2 ≤ t ≤ n ≤ 255; index: decimal 1..n (the Shamir x coordinate); data: the share's
 * y values, lowercase hex (one byte per byte of the split key plus one); checksum: the first 8 hex digits of
 * SHA-256 over everything before the last ':' (catches typos; it is not a secret and not a MAC).
 * Parsing is lenient only where it cannot change meaning: surrounding whitespace, spaces/tabs inside the
 * line and upper-case letters are accepted.
 */
import { createHash } from "node:crypto";
import { ShareError } from "./errors.js";

export const SHARE_FORMAT = "signstar-share-v1";
/** Longest share text accepted (a 2-of-255 share of a 32-byte key is about 130 characters). */
export const MAX_SHARE_TEXT = 1024;
export const MAX_SHARES = 255;
export const MAX_ITERATION = 0xffff_ffff;
const MAX_DATA_HEX = 510;

export interface ShareLine {
  readonly setId: string;
  readonly iteration: number;
  readonly threshold: number;
  readonly shares: number;
  readonly index: number;
  /** Lowercase hex. */
  readonly data: string;
}

/** First 8 hex digits of SHA-256 over `body` (the line up to, not including, the last ':'). */
export function shareChecksum(body: string): string {
  return createHash("sha256").update(body, "utf8").digest("hex").slice(0, 8);
}

function body(s: ShareLine): string {
  return `${SHARE_FORMAT}:${s.setId}:${s.iteration}:${s.threshold}-of-${s.shares}:${s.index}:${s.data}`;
}

export function formatShareLine(s: ShareLine): string {
  const b = body(s);
  return `${b}:${shareChecksum(b)}`;
}

function malformed(what: string): ShareError {
  return new ShareError("format", `malformed share: ${what}`);
}

function decimal(field: string, name: string, min: number, max: number): number {
  if (!/^(0|[1-9][0-9]{0,9})$/.test(field)) throw malformed(`the ${name} must be a decimal number`);
  const n = Number(field);
  if (n < min || n > max) throw malformed(`the ${name} must be between ${min} and ${max}`);
  return n;
}

/**
 * Parses one share. Throws ShareError (exit code BadInput) whose problem is "format" (with what is wrong)
 * or "checksum" ("checksum mismatch: the share was mistyped"). Messages never contain share data.
 */
export function parseShareLine(text: string): ShareLine {
  if (text.length > MAX_SHARE_TEXT) throw malformed(`longer than ${MAX_SHARE_TEXT} characters`);
  const trimmed = text.trim();
  if (trimmed === "") throw malformed("the input is empty");
  if (/[\r\n]/.test(trimmed)) throw malformed("expected exactly one line with one share");
  const line = trimmed.replace(/[ \t]+/g, "").toLowerCase();
  if (!/^[a-z0-9:-]+$/.test(line)) throw malformed("it contains characters other than letters, digits, ':' and '-'");
  const fields = line.split(":");
  const prefix = fields[0] ?? "";
  if (prefix !== SHARE_FORMAT) {
    if (/^signstar-share-v[0-9]+$/.test(prefix)) {
      throw new ShareError("format", `unsupported share format version ${prefix.slice("signstar-share-".length)} (this host reads ${SHARE_FORMAT})`);
    }
    throw malformed(`it does not start with "${SHARE_FORMAT}:"`);
  }
  if (fields.length !== 7) throw malformed(`expected 7 fields separated by ':', found ${fields.length}`);
  const [, setId, iteration, tOfN, index, data, checksum] = fields as [string, string, string, string, string, string, string];
  if (!/^[0-9a-f]{8}$/.test(checksum)) throw malformed("the checksum (last field) must be 8 hex digits");
  if (shareChecksum(fields.slice(0, 6).join(":")) !== checksum) {
    throw new ShareError("checksum", "checksum mismatch: the share was mistyped");
  }
  if (!/^[0-9a-f]{16}$/.test(setId)) throw malformed("the share-set id must be 16 hex digits");
  const iter = decimal(iteration, "iteration", 0, MAX_ITERATION);
  const m = /^([0-9]+)-of-([0-9]+)$/.exec(tOfN);
  if (m === null) throw malformed('the third field must be "<threshold>-of-<shares>"');
  const shares = decimal(m[2]!, "number of shares", 2, MAX_SHARES);
  const threshold = decimal(m[1]!, "threshold", 2, shares);
  const idx = decimal(index, "share index", 1, shares);
  if (!/^([0-9a-f]{2})+$/.test(data) || data.length > MAX_DATA_HEX) {
    throw malformed(`the share data must be an even number of hex digits, at most ${MAX_DATA_HEX}`);
  }
  return { setId, iteration: iter, threshold, shares, index: idx, data };
}
