/**
 * Splitting and combining the admin secret.
 *
 * The secret is never split directly. splitSecret draws a random 256-bit key K, encrypts the secret with
 * AES-256-GCM under K (random 96-bit nonce; the AAD binds set id, iteration, threshold, number of shares and
 * every share commitment) and splits K with Shamir's scheme (secrets.js-grempe, GF(2^8), one polynomial per
 * byte). The ciphertext and the commitments stay on the host (ShareSetRecord). combineShares rebuilds K and
 * decrypts: the GCM tag proves that the combination is right, so the silent garbage secrets.js returns for
 * too few, tampered or duplicate shares can never be mistaken for the secret.
 * Why an AEAD rather than secret‖HMAC: shares stay short and fixed-size (33 bytes of data) whatever the
 * secret's size, which matters for people who keep or retype them, and the tag authenticates the parameters.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import secrets from "secrets.js-grempe";
import { ShareError } from "./errors.js";
import { formatShareLine, MAX_ITERATION, MAX_SHARES } from "./format.js";
import { MAX_SECRET_BYTES, RECORD_FORMAT, recordAad, shareCommitment, type ShareSetRecord } from "./record.js";
import { verifyShare, type VerifiedShare } from "./verify.js";

const KEY_BYTES = 32;
/** Pad K (plus secrets.js's 1-bit marker) to whole bytes only; K's length is public anyway. */
const PAD_BITS = 8;

function initSecrets(): void {
  const c = secrets.getConfig();
  if (c.bits !== 8 || c.typeCSPRNG !== "nodeCryptoRandomBytes") secrets.init(8, "nodeCryptoRandomBytes");
}

/** secrets.js share text for bits = 8: "8", the id as 2 hex digits, the data. */
function rawShare(index: number, data: string): string {
  return `8${index.toString(16).padStart(2, "0")}${data}`;
}

export interface SplitOptions {
  readonly threshold: number;
  readonly shares: number;
  /** The config iteration the secret belongs to. */
  readonly iteration: number;
  /** Creation time for the record (default: now). */
  readonly now?: Date;
}

export interface SplitResult {
  /** One share line per index, `shares[i]` has index i + 1. Secret: hand each to its holder only. */
  readonly shares: string[];
  readonly record: ShareSetRecord;
}

export function splitSecret(secret: Uint8Array, opts: SplitOptions): SplitResult {
  const { threshold, shares: n, iteration } = opts;
  if (!Number.isInteger(n) || n < 2 || n > MAX_SHARES) throw new RangeError(`number of shares must be 2 to ${MAX_SHARES}`);
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > n) throw new RangeError(`threshold must be 2 to ${n}`);
  if (!Number.isInteger(iteration) || iteration < 0 || iteration > MAX_ITERATION) throw new RangeError("iteration is out of range");
  if (secret.length === 0 || secret.length > MAX_SECRET_BYTES) throw new RangeError(`the secret must be 1 to ${MAX_SECRET_BYTES} bytes`);

  const key = randomBytes(KEY_BYTES);
  const nonce = randomBytes(12);
  const setId = randomBytes(8).toString("hex");
  try {
    initSecrets();
    const raw = secrets.share(key.toString("hex"), n, threshold, PAD_BITS);
    const parts = raw.map((r) => {
      const c = secrets.extractShareComponents(r);
      return { index: c.id, data: c.data.toLowerCase() };
    });
    parts.sort((a, b) => a.index - b.index);
    const dataLength = parts[0]?.data.length ?? 0;
    if (parts.length !== n || parts.some((p, i) => p.index !== i + 1 || p.data.length !== dataLength)) {
      throw new Error("secrets.js-grempe returned unexpected shares");
    }
    // Self-check: the first `threshold` shares must give K back.
    const check = secrets.combine(parts.slice(0, threshold).map((p) => rawShare(p.index, p.data)));
    if (check !== key.toString("hex")) throw new Error("secrets.js-grempe failed its self-check");

    const commitments = parts.map((p) => shareCommitment(setId, p.index, p.data));
    const header = { setId, iteration, threshold, shares: n, commitments };
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(recordAad(header));
    const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()]);
    const record: ShareSetRecord = {
      format: RECORD_FORMAT,
      ...header,
      dataLength,
      nonce: nonce.toString("hex"),
      tag: cipher.getAuthTag().toString("hex"),
      ciphertext: ciphertext.toString("base64"),
      createdAt: (opts.now ?? new Date()).toISOString(),
    };
    const lines = parts.map((p) => formatShareLine({ setId, iteration, threshold, shares: n, index: p.index, data: p.data }));
    return { shares: lines, record };
  } finally {
    key.fill(0);
  }
}

/**
 * Combines verified shares into the secret. Throws ShareError (BadInput) for shares of another set,
 * duplicate indexes, fewer than the threshold, or when decryption fails (the combination is wrong).
 */
export function combineShares(shares: readonly VerifiedShare[], record: ShareSetRecord): Uint8Array {
  const seen = new Set<number>();
  for (const s of shares) {
    // Re-check against this record: a VerifiedShare of an older record must not slip through.
    verifyShare(s.line(), record);
    if (seen.has(s.index)) throw new ShareError("duplicate", `share ${s.index} was given more than once`);
    seen.add(s.index);
  }
  if (seen.size < record.threshold) {
    throw new ShareError("too-few", `only ${seen.size} of the ${record.threshold} required shares of set ${record.setId} are present`);
  }
  initSecrets();
  const keyHex = secrets.combine(shares.map((s) => rawShare(s.index, s.data())));
  if (!/^[0-9a-f]{64}$/.test(keyHex)) {
    throw new ShareError("combine", `the shares of set ${record.setId} do not combine to a key: at least one share is wrong`);
  }
  const key = Buffer.from(keyHex, "hex");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(record.nonce, "hex"));
    decipher.setAAD(recordAad(record));
    decipher.setAuthTag(Buffer.from(record.tag, "hex"));
    const ciphertext = Buffer.from(record.ciphertext, "base64");
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new ShareError(
        "combine",
        `the shares of set ${record.setId} do not decrypt the host's record (authentication failed): a share or the record is wrong`,
      );
    }
  } finally {
    key.fill(0);
  }
}
