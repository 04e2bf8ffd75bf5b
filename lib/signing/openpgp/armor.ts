/**
 * OpenPGP ASCII armor (RFC 9580 §6): BEGIN line, optional headers, blank line, base64 in 64-column lines,
 * CRC-24 checksum line, END line. We always emit the checksum (older verifiers like it; RFC 9580 allows it);
 * on input the checksum is optional but verified when present.
 */
import { OpenPgpError } from "../errors.js";

export type ArmorType = "SIGNATURE" | "PUBLIC KEY BLOCK";

/** Upper bound for dearmor input (characters). */
export const MAX_ARMOR_CHARS = 4 * 1024 * 1024;

export function crc24(data: Uint8Array): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

function crcLine(data: Uint8Array): string {
  const c = crc24(data);
  return "=" + Buffer.from([c >> 16, (c >> 8) & 0xff, c & 0xff]).toString("base64");
}

/**
 * Armors `data`. `headers` are armor headers (RFC 9580 §6.2.2.2, e.g. `Comment`): one line each, which OpenPGP
 * implementations show or skip but never parse into the data.
 */
export function armor(type: ArmorType, data: Uint8Array, headers: readonly (readonly [string, string])[] = []): string {
  const b64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64");
  for (const [key, value] of headers) {
    if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(key) || /[\r\n]/.test(value) || value.length > 1024) throw new OpenPgpError(`armor: not a one-line header: ${key.slice(0, 20)}`);
  }
  const lines = [`-----BEGIN PGP ${type}-----`, ...headers.map(([key, value]) => `${key}: ${value}`), ""];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(crcLine(data), `-----END PGP ${type}-----`, "");
  return lines.join("\n");
}

export function dearmor(text: string): { type: string; data: Uint8Array } {
  if (text.length > MAX_ARMOR_CHARS) throw new OpenPgpError(`armor: input is larger than ${MAX_ARMOR_CHARS} characters`);
  const lines = text.split(/\r?\n/).map((l) => l.replace(/[ \t]+$/, ""));
  const start = lines.findIndex((l) => /^-----BEGIN PGP [A-Z ,0-9/]+-----$/.test(l));
  if (start < 0) throw new OpenPgpError("armor: no -----BEGIN PGP ...----- line");
  const type = (lines[start] ?? "").slice("-----BEGIN PGP ".length, -5);
  let i = start + 1;
  // Armor headers ("Key: Value") up to the first blank line; RFC 9580 lets the blank line be the only separator.
  while (i < lines.length && lines[i] !== "" && /^[^\s:]+: /.test(lines[i] ?? "")) i++;
  if (lines[i] === "") i++;
  let body = "";
  let checksum: string | null = null;
  for (; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.startsWith("-----END PGP ")) {
      if (line !== `-----END PGP ${type}-----`) throw new OpenPgpError(`armor: END line does not match BEGIN PGP ${type}`);
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw new OpenPgpError("armor: body is not valid base64");
      const data = new Uint8Array(Buffer.from(body, "base64"));
      if (checksum !== null && checksum !== crcLine(data)) throw new OpenPgpError("armor: CRC-24 checksum mismatch");
      return { type, data };
    }
    if (line === "") continue;
    if (checksum !== null) throw new OpenPgpError("armor: data after the checksum line");
    if (line.startsWith("=") && line.length === 5) checksum = line;
    else body += line;
  }
  throw new OpenPgpError(`armor: missing -----END PGP ${type}----- line`);
}
