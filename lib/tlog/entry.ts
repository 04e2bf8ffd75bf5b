/**
 * The log entry, version 1: UTF-8 text, one `<field> <value>` per line, each line ending in LF, fields in this
 * fixed order, lowercase hex, decimal without leading zeros. It is canonical: `decodeEntry` accepts exactly the
 * bytes `encodeEntry` produces (it re-encodes and compares), so one entry has one leaf hash.
 *
 *     signstar-log-entry v1 signature
 *     key <OpenPGP fingerprint of the signing key: 40 hex digits (v4) or 64 (v6)>
 *     digest <the SHA-512 digest the client's hasher state finalises to: 128 hex digits>
 *     created <the signature creation time: Unix seconds>
 *     user <the Unix user that asked, as the kernel named it to the log writer>
 *     packet <SHA-256 of the issued OpenPGP signature packet (binary, with its header): 64 hex digits>
 *
 * An index that was reserved but never committed (the signer crashed or timed out) is filled with a void entry,
 * so indexes stay dense and every reservation is accounted for:
 *
 *     signstar-log-entry v1 void
 *     user <the Unix user that reserved it>
 *     reserved <Unix seconds of the reservation>
 *
 * Nothing secret, and nothing about the file beyond its digest, is in an entry.
 */
import { LogFormatError } from "./errors.js";

export const ENTRY_MAGIC = "signstar-log-entry v1";
export const MAX_ENTRY_BYTES = 1024;

export interface SignatureEntry {
  readonly kind: "signature";
  /** Lowercase hex, 40 or 64 digits. */
  readonly key: string;
  /** Lowercase hex, 128 digits. */
  readonly digest: string;
  /** Unix seconds. */
  readonly created: number;
  readonly user: string;
  /** Lowercase hex, 64 digits. */
  readonly packet: string;
}

export interface VoidEntry {
  readonly kind: "void";
  readonly user: string;
  readonly reserved: number;
}

export type LogEntry = SignatureEntry | VoidEntry;

const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

export function checkUserName(user: string): void {
  if (!USER_RE.test(user)) throw new LogFormatError(`log entry: not a Unix user name: ${JSON.stringify(user.slice(0, 40))}`);
}

function checkTime(t: number, what: string): void {
  if (!Number.isSafeInteger(t) || t < 0) throw new LogFormatError(`log entry: bad ${what} time`);
}

function checkEntry(e: LogEntry): void {
  checkUserName(e.user);
  if (e.kind === "void") return checkTime(e.reserved, "reservation");
  if (!/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(e.key)) throw new LogFormatError("log entry: the key fingerprint must be 40 or 64 lowercase hex digits");
  if (!/^[0-9a-f]{128}$/.test(e.digest)) throw new LogFormatError("log entry: the digest must be 128 lowercase hex digits (SHA-512)");
  if (!/^[0-9a-f]{64}$/.test(e.packet)) throw new LogFormatError("log entry: the packet hash must be 64 lowercase hex digits (SHA-256)");
  checkTime(e.created, "creation");
}

export function encodeEntry(e: LogEntry): Uint8Array {
  checkEntry(e);
  const text =
    e.kind === "void"
      ? `${ENTRY_MAGIC} void\nuser ${e.user}\nreserved ${e.reserved}\n`
      : `${ENTRY_MAGIC} signature\nkey ${e.key}\ndigest ${e.digest}\ncreated ${e.created}\nuser ${e.user}\npacket ${e.packet}\n`;
  return new TextEncoder().encode(text);
}

/** Decodes an entry, refusing anything that is not exactly its canonical encoding. */
export function decodeEntry(bytes: Uint8Array): LogEntry {
  if (bytes.length > MAX_ENTRY_BYTES) throw new LogFormatError(`log entry of ${bytes.length} bytes exceeds ${MAX_ENTRY_BYTES}`);
  const text = Buffer.from(bytes).toString("latin1");
  const lines = text.split("\n");
  if (lines.pop() !== "") throw new LogFormatError("log entry does not end in a newline");
  const field = (i: number, name: string): string => {
    const line = lines[i];
    if (line === undefined || !line.startsWith(`${name} `)) throw new LogFormatError(`log entry: line ${i + 1} must be the ${name} field`);
    return line.slice(name.length + 1);
  };
  const num = (s: string): number => (/^(0|[1-9][0-9]{0,15})$/.test(s) ? Number(s) : Number.NaN);
  let e: LogEntry;
  if (lines[0] === `${ENTRY_MAGIC} void` && lines.length === 3) {
    e = { kind: "void", user: field(1, "user"), reserved: num(field(2, "reserved")) };
  } else if (lines[0] === `${ENTRY_MAGIC} signature` && lines.length === 6) {
    e = { kind: "signature", key: field(1, "key"), digest: field(2, "digest"), created: num(field(3, "created")), user: field(4, "user"), packet: field(5, "packet") };
  } else {
    throw new LogFormatError(`log entry: not a ${ENTRY_MAGIC} entry`);
  }
  if (!Buffer.from(encodeEntry(e)).equals(Buffer.from(bytes))) throw new LogFormatError("log entry is not in canonical form");
  return e;
}
