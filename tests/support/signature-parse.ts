/**
 * Reads a v4 signature packet (binary or armored) into its fields, so a client can check what the server
 * asserted (issuer, creation time, data-digest notation) before trusting a response. Does not verify.
 */
import { OpenPgpError } from "../../lib/signing/errors.js";
import { dearmor } from "../../lib/signing/openpgp/armor.js";
import { readPackets, Reader, Tag } from "../../lib/signing/openpgp/packet.js";
import { SubpacketType } from "../../lib/signing/openpgp/signature.js";

export interface Subpacket {
  type: number;
  critical: boolean;
  body: Uint8Array;
}

export interface ParsedSignature {
  type: number;
  publicKeyAlgorithm: number;
  hashAlgorithm: number;
  hashed: Subpacket[];
  unhashed: Subpacket[];
  left16: Uint8Array;
  mpis: Uint8Array[];
  created: Date | null;
  issuerFingerprint: Uint8Array | null;
  notations: { name: string; value: Uint8Array; humanReadable: boolean }[];
}

function readSubpackets(area: Uint8Array): Subpacket[] {
  const out: Subpacket[] = [];
  const r = new Reader(area, "signature subpacket");
  while (r.remaining > 0) {
    const first = r.byte();
    let len: number;
    if (first < 192) len = first;
    else if (first < 255) len = ((first - 192) << 8) + r.byte() + 192;
    else len = r.u32();
    if (len === 0) throw new OpenPgpError("signature subpacket: zero length");
    const t = r.byte();
    out.push({ type: t & 0x7f, critical: (t & 0x80) !== 0, body: r.take(len - 1) });
  }
  return out;
}

export function parseSignature(input: Uint8Array | string): ParsedSignature {
  const bytes = typeof input === "string" ? dearmor(input).data : input;
  const packets = readPackets(bytes, 1);
  const p = packets[0];
  if (p === undefined || p.tag !== Tag.Signature) throw new OpenPgpError("signature: not a signature packet");
  const r = new Reader(p.body, "signature packet");
  const version = r.byte();
  if (version !== 4) throw new OpenPgpError(`signature packet: version ${version} is not supported (only v4)`);
  const type = r.byte();
  const publicKeyAlgorithm = r.byte();
  const hashAlgorithm = r.byte();
  const hashed = readSubpackets(r.take(r.u16()));
  const unhashed = readSubpackets(r.take(r.u16()));
  const left16 = r.take(2).slice();
  const mpis: Uint8Array[] = [];
  while (r.remaining > 0) mpis.push(r.mpi().slice());
  const created = hashed.find((s) => s.type === SubpacketType.CreationTime);
  const fpr = hashed.find((s) => s.type === SubpacketType.IssuerFingerprint);
  const notations = hashed
    .filter((s) => s.type === SubpacketType.NotationData)
    .map((s) => {
      const n = new Reader(s.body, "notation");
      const flags = n.take(4);
      const nameLen = n.u16();
      const valueLen = n.u16();
      const name = new TextDecoder().decode(n.take(nameLen));
      return { name, value: n.take(valueLen).slice(), humanReadable: ((flags[0] ?? 0) & 0x80) !== 0 };
    });
  return {
    type,
    publicKeyAlgorithm,
    hashAlgorithm,
    hashed,
    unhashed,
    left16,
    mpis,
    created: created === undefined ? null : new Date(new Reader(created.body, "creation time").u32() * 1000),
    issuerFingerprint: fpr === undefined || fpr.body[0] !== 4 ? null : fpr.body.slice(1),
    notations,
  };
}
