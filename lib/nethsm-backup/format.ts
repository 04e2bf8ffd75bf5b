/**
 * Primitives of the NetHSM backup format (keyfender, `src/keyfender/hsm.ml`, Nitrokey/nethsm 4e192fb9): 3-byte big-endian length fields,
 * scrypt key derivation, and `enc(key, adata, plaintext) = nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16)`.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from "node:crypto";
import { BackupError } from "./errors.js";

export const MAGIC = "_NETHSM_BACKUP_";
export const TRAILER = "_NETHSM_BACKUP_END_";
export const MAX_FIELD = 0xff_ffff;
const NONCE = 12;
const TAG = 16;

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}
/** What real devices, the docker image and the sdk-py vectors use. */
export const DEVICE_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 16 };
/** keyfender's unit-test parameters (`Crypto.set_test_params`). */
export const TEST_SCRYPT: ScryptParams = { N: 2, r: 1, p: 1 };

/** scrypt(passphrase, salt) → 32-byte key, asynchronously (does not block the event loop). */
export function deriveKey(passphrase: string, salt: Uint8Array, params: ScryptParams = DEVICE_SCRYPT): Promise<Buffer> {
  const maxmem = 128 * params.N * params.r * 2 + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(passphrase, "utf8"), salt, 32, { ...params, maxmem }, (err, key) =>
      err ? reject(new BackupError(`scrypt failed: ${err.message}`)) : resolve(key),
    );
  });
}

export function encodeField(data: Uint8Array): Buffer {
  if (data.length > MAX_FIELD) throw new BackupError(`backup field of ${data.length} bytes exceeds 2^24-1`);
  const out = Buffer.alloc(3 + data.length);
  out[0] = data.length >>> 16;
  out.writeUInt16BE(data.length & 0xffff, 1);
  out.set(data, 3);
  return out;
}

/** Reads fields from a buffer; every read is bounds-checked. */
export class FieldReader {
  private pos: number;
  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number = buf.length,
  ) {
    this.pos = start;
  }
  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  /** Length of the next field without consuming it, or undefined if fewer than 3 bytes remain. */
  peekLength(): number | undefined {
    if (this.remaining < 3) return undefined;
    return (this.buf[this.pos]! << 16) | (this.buf[this.pos + 1]! << 8) | this.buf[this.pos + 2]!;
  }
  field(what: string): Uint8Array {
    const len = this.peekLength();
    if (len === undefined) throw new BackupError(`truncated at byte ${this.pos}: missing length of ${what}`);
    if (this.remaining - 3 < len) {
      throw new BackupError(`truncated at byte ${this.pos}: ${what} needs ${len} bytes, ${this.remaining - 3} left`);
    }
    const start = this.pos + 3;
    this.pos = start + len;
    return this.buf.subarray(start, start + len);
  }
  skip(n: number): void {
    this.pos += n;
  }
}

export function encrypt(key: Uint8Array, adata: string, plaintext: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(Buffer.from(adata, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Returns the plaintext, or undefined if the data is too short or its tag does not verify. */
export function tryDecrypt(key: Uint8Array, adata: string, data: Uint8Array): Buffer | undefined {
  if (data.length <= NONCE + TAG) return undefined;
  const decipher = createDecipheriv("aes-256-gcm", key, data.subarray(0, NONCE));
  decipher.setAAD(Buffer.from(adata, "utf8"));
  decipher.setAuthTag(data.subarray(data.length - TAG));
  try {
    return Buffer.concat([decipher.update(data.subarray(NONCE, data.length - TAG)), decipher.final()]);
  } catch {
    return undefined;
  }
}

export function decrypt(key: Uint8Array, adata: string, data: Uint8Array, what: string, hint = ""): Buffer {
  const plain = tryDecrypt(key, adata, data);
  if (plain === undefined) throw new BackupError(`could not decrypt ${what}: authentication failed${hint}`);
  return plain;
}
