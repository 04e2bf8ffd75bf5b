/**
 * The host's non-secret record of a share set: parameters, the AES-256-GCM ciphertext of the admin secret
 * under the split key K, and a SHA-256 commitment to every share. Without K (≥ threshold shares) neither the
 * ciphertext nor the commitments reveal anything useful: the commitments hash ≥ 256 bits of unknown share data.
 */
import { createHash } from "node:crypto";
import { ExitCode } from "../../errors.js";
import { ShareError } from "./errors.js";
import { MAX_ITERATION, MAX_SHARES } from "./format.js";

export const RECORD_FORMAT = "signstar-share-set-v1";
/** Largest secret that may be split (the admin credentials TOML is a few hundred bytes). */
export const MAX_SECRET_BYTES = 64 * 1024;
/** Upper bound of a serialized record. */
export const MAX_RECORD_BYTES = 256 * 1024;

export interface ShareSetRecord {
  readonly format: typeof RECORD_FORMAT;
  /** 16 lowercase hex digits. */
  readonly setId: string;
  readonly iteration: number;
  readonly threshold: number;
  readonly shares: number;
  /** Hex digits of every share's data (all shares of a set have the same length). */
  readonly dataLength: number;
  /** SHA-256 commitments (lowercase hex); commitments[i - 1] belongs to share index i. */
  readonly commitments: readonly string[];
  /** AES-256-GCM: 12-byte nonce and 16-byte tag (hex), ciphertext (base64). */
  readonly nonce: string;
  readonly tag: string;
  readonly ciphertext: string;
  /** ISO 8601 creation time (informational). */
  readonly createdAt: string;
}

/** Commitment to one share: SHA-256("signstar-share-commitment-v1" 0 setId 0 index 0 data), hex. */
export function shareCommitment(setId: string, index: number, data: string): string {
  return createHash("sha256").update(`signstar-share-commitment-v1\0${setId}\0${index}\0${data}`, "utf8").digest("hex");
}

/** Additional authenticated data of the ciphertext: binds the parameters and every commitment. */
export function recordAad(r: Pick<ShareSetRecord, "setId" | "iteration" | "threshold" | "shares" | "commitments">): Buffer {
  return Buffer.from(`${RECORD_FORMAT}:${r.setId}:${r.iteration}:${r.threshold}-of-${r.shares}:${r.commitments.join(",")}`, "utf8");
}

function bad(origin: string, what: string): ShareError {
  return new ShareError("record", `${origin}: invalid share-set record: ${what}`, ExitCode.Secret);
}

function field<T>(o: Record<string, unknown>, key: string, check: (v: unknown) => v is T, origin: string): T {
  const v = o[key];
  if (!check(v)) throw bad(origin, `field "${key}" is missing or invalid`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** Parses and checks a record (JSON object as produced by splitSecret). */
export function shareSetRecord(value: unknown, origin = "share-set record"): ShareSetRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad(origin, "not a JSON object");
  const o = value as Record<string, unknown>;
  const known = ["format", "setId", "iteration", "threshold", "shares", "dataLength", "commitments", "nonce", "tag", "ciphertext", "createdAt"];
  const unknown = Object.keys(o).find((k) => !known.includes(k));
  if (unknown !== undefined) throw bad(origin, `unknown field "${unknown}"`);
  if (o["format"] !== RECORD_FORMAT) throw bad(origin, `format must be "${RECORD_FORMAT}"`);
  const setId = field(o, "setId", isString, origin);
  if (!/^[0-9a-f]{16}$/.test(setId)) throw bad(origin, "setId must be 16 hex digits");
  const iteration = field(o, "iteration", isInt, origin);
  if (iteration > MAX_ITERATION) throw bad(origin, "iteration is out of range");
  const shares = field(o, "shares", isInt, origin);
  const threshold = field(o, "threshold", isInt, origin);
  if (shares < 2 || shares > MAX_SHARES || threshold < 2 || threshold > shares) throw bad(origin, "threshold/shares are out of range");
  const dataLength = field(o, "dataLength", isInt, origin);
  if (dataLength < 2 || dataLength > 510 || dataLength % 2 !== 0) throw bad(origin, "dataLength is out of range");
  const commitments = o["commitments"];
  if (!Array.isArray(commitments) || commitments.length !== shares || !commitments.every((c) => typeof c === "string" && /^[0-9a-f]{64}$/.test(c))) {
    throw bad(origin, `commitments must be ${shares} SHA-256 hex digests`);
  }
  const nonce = field(o, "nonce", isString, origin);
  const tag = field(o, "tag", isString, origin);
  const ciphertext = field(o, "ciphertext", isString, origin);
  if (!/^[0-9a-f]{24}$/.test(nonce)) throw bad(origin, "nonce must be 24 hex digits");
  if (!/^[0-9a-f]{32}$/.test(tag)) throw bad(origin, "tag must be 32 hex digits");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(ciphertext) || ciphertext.length % 4 !== 0 || ciphertext.length > ((MAX_SECRET_BYTES + 2) / 3) * 4 + 4) {
    throw bad(origin, "ciphertext must be base64 of at most 64 KiB");
  }
  const createdAt = field(o, "createdAt", isString, origin);
  if (createdAt.length > 64) throw bad(origin, "createdAt is too long");
  return {
    format: RECORD_FORMAT,
    setId,
    iteration,
    threshold,
    shares,
    dataLength,
    commitments: commitments as string[],
    nonce,
    tag,
    ciphertext,
    createdAt,
  };
}

export function encodeShareSetRecord(record: ShareSetRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

export function decodeShareSetRecord(text: string, origin = "share-set record"): ShareSetRecord {
  if (text.length > MAX_RECORD_BYTES) throw bad(origin, `larger than ${MAX_RECORD_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad(origin, "not valid JSON");
  }
  return shareSetRecord(value, origin);
}
