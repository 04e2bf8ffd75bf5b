/**
 * OpenPGP packet framing (RFC 9580 §4.2, §3.2, §5.2.3.7): lengths, packets, MPIs, subpackets, and a reader for
 * old- and new-format packet sequences (no partial lengths: certificates and signatures never use them).
 */
import { OpenPgpError } from "../errors.js";

export const Tag = { Signature: 2, PublicKey: 6, UserId: 13, PublicSubkey: 14 } as const;

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function u16(v: number): Uint8Array {
  return Uint8Array.from([(v >>> 8) & 0xff, v & 0xff]);
}

export function u32(v: number): Uint8Array {
  return Uint8Array.from([(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

/** New-format body length (also used for subpacket lengths): 1, 2 or 5 octets. */
export function encodeLength(len: number): Uint8Array {
  if (len < 192) return Uint8Array.from([len]);
  if (len < 8384) {
    const v = len - 192;
    return Uint8Array.from([(v >> 8) + 192, v & 0xff]);
  }
  return concat(Uint8Array.from([0xff]), u32(len));
}

/** A packet with a new-format header. */
export function packet(tag: number, body: Uint8Array): Uint8Array {
  return concat(Uint8Array.from([0xc0 | tag]), encodeLength(body.length), body);
}

export function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

/** Multiprecision integer: u16 bit count ‖ big-endian bytes without leading zeros. */
export function mpi(value: Uint8Array): Uint8Array {
  const v = stripLeadingZeros(value);
  const bits = v.length === 0 ? 0 : (v.length - 1) * 8 + (32 - Math.clz32(v[0] ?? 0));
  return concat(u16(bits), v);
}

/** Signature subpacket: length ‖ type ‖ body (never critical here). */
export function subpacket(type: number, body: Uint8Array): Uint8Array {
  return concat(encodeLength(body.length + 1), Uint8Array.from([type]), body);
}

export interface RawPacket {
  tag: number;
  body: Uint8Array;
}

/** Reads a byte cursor through a packet body. */
export class Reader {
  #at = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}
  get remaining(): number {
    return this.bytes.length - this.#at;
  }
  take(n: number): Uint8Array {
    if (n > this.remaining) throw new OpenPgpError(`${this.what}: truncated`);
    const out = this.bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  byte(): number {
    return this.take(1)[0] ?? 0;
  }
  u16(): number {
    const b = this.take(2);
    return ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  }
  u32(): number {
    const b = this.take(4);
    return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  }
  mpi(): Uint8Array {
    const bits = this.u16();
    const v = this.take(Math.ceil(bits / 8));
    if (bits > 0 && (v.length === 0 || 32 - Math.clz32(v[0] ?? 0) !== ((bits - 1) % 8) + 1)) {
      throw new OpenPgpError(`${this.what}: MPI bit count does not match its value`);
    }
    return v;
  }
}

/** Splits a packet sequence. Rejects partial-length and indeterminate-length packets. At most `maxPackets`. */
export function readPackets(bytes: Uint8Array, maxPackets = 10000): RawPacket[] {
  const out: RawPacket[] = [];
  const r = new Reader(bytes, "OpenPGP packet");
  while (r.remaining > 0) {
    if (out.length >= maxPackets) throw new OpenPgpError(`OpenPGP data has more than ${maxPackets} packets`);
    const h = r.byte();
    if ((h & 0x80) === 0) throw new OpenPgpError(`OpenPGP packet ${out.length}: invalid header byte 0x${h.toString(16)}`);
    let tag: number;
    let len: number;
    if (h & 0x40) {
      tag = h & 0x3f;
      const first = r.byte();
      if (first < 192) len = first;
      else if (first < 224) len = ((first - 192) << 8) + r.byte() + 192;
      else if (first === 255) len = r.u32();
      else throw new OpenPgpError(`OpenPGP packet ${out.length}: partial body lengths are not supported`);
    } else {
      tag = (h >> 2) & 0x0f;
      const lt = h & 3;
      if (lt === 0) len = r.byte();
      else if (lt === 1) len = r.u16();
      else if (lt === 2) len = r.u32();
      else throw new OpenPgpError(`OpenPGP packet ${out.length}: indeterminate length is not supported`);
    }
    out.push({ tag, body: r.take(len) });
  }
  return out;
}
