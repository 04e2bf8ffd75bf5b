/**
 * OpenSSH authorized_keys lines: `[options] keytype base64-blob [comment]`, really parsed (the blob's embedded type
 * string must equal the key type, and the key material must have the shape of that type).
 */
import type { AuthorizedKey } from "./model.js";
import { InvalidValue } from "./problems.js";

/** Key types accepted in authorized_keys lines. */
export const SSH_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;
type SshKeyType = (typeof SSH_KEY_TYPES)[number];

const MAX_LINE = 16 * 1024;
/** OpenSSH's SSH_RSA_MINIMUM_MODULUS_SIZE. */
const MIN_RSA_BITS = 1024;
const EC_POINT_LENGTH: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

function isKeyType(s: string): s is SshKeyType {
  return (SSH_KEY_TYPES as readonly string[]).includes(s);
}

/** Short, single-line rendering of a (possibly long) line for messages. */
export function abbreviateKey(line: string): string {
  const oneLine = line.replace(/[\x00-\x1f\x7f]/g, "?");
  return oneLine.length > 72 ? `${oneLine.slice(0, 71)}…` : oneLine;
}

class WireReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  bytes(what: string): Buffer {
    if (this.pos + 4 > this.buf.length) throw new Error(`truncated key data (${what})`);
    const len = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    if (len > this.buf.length - this.pos) throw new Error(`truncated key data (${what})`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  string(what: string): string {
    return this.bytes(what).toString("latin1");
  }
  end(): void {
    if (this.pos !== this.buf.length) throw new Error("trailing bytes after the key data");
  }
}

function checkBlob(keyType: SshKeyType, blob: Buffer): void {
  const r = new WireReader(blob);
  const embedded = r.string("key type");
  if (embedded !== keyType) {
    throw new Error(`the key data is of type "${abbreviateKey(embedded)}", not "${keyType}"`);
  }
  switch (keyType) {
    case "ssh-ed25519":
    case "sk-ssh-ed25519@openssh.com": {
      if (r.bytes("public key").length !== 32) throw new Error("an Ed25519 public key must be 32 bytes");
      if (keyType !== "ssh-ed25519") r.string("application");
      break;
    }
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521":
    case "sk-ecdsa-sha2-nistp256@openssh.com": {
      const expectedCurve = keyType.startsWith("sk-") ? "nistp256" : keyType.slice("ecdsa-sha2-".length);
      const curve = r.string("curve");
      if (curve !== expectedCurve) throw new Error(`the curve "${abbreviateKey(curve)}" does not match the key type`);
      const point = r.bytes("public point");
      if (point.length !== EC_POINT_LENGTH[expectedCurve] || point[0] !== 4) {
        throw new Error(`the public point is not an uncompressed ${expectedCurve} point`);
      }
      if (keyType.startsWith("sk-")) r.string("application");
      break;
    }
    case "ssh-rsa": {
      const e = r.bytes("RSA exponent");
      const n = r.bytes("RSA modulus");
      if (e.length === 0 || n.length === 0 || (e[0]! & 0x80) !== 0 || (n[0]! & 0x80) !== 0) {
        throw new Error("malformed RSA key");
      }
      let first = 0;
      while (first < n.length && n[first] === 0) first++;
      const bits = first === n.length ? 0 : (n.length - first - 1) * 8 + (32 - Math.clz32(n[first]!));
      if (bits < MIN_RSA_BITS) throw new Error(`the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required`);
      break;
    }
  }
  r.end();
}

/** Splits off the options field (OpenSSH syntax: unquoted whitespace ends it; `"…"` may contain spaces and `\"`). */
function splitOptions(line: string): { options: string; rest: string } {
  let inQuote = false;
  let i = 0;
  for (; i < line.length; i++) {
    const c = line[i]!;
    if (inQuote && c === "\\" && line[i + 1] === '"') {
      i++;
      continue;
    }
    if (c === '"') inQuote = !inQuote;
    else if (!inQuote && (c === " " || c === "\t")) break;
  }
  if (inQuote) throw new Error("unterminated quote in the options");
  const options = line.slice(0, i);
  // name or name="value", comma separated
  const option = /^[A-Za-z0-9][A-Za-z0-9_-]*(="(?:[^"\\]|\\.)*")?$/;
  const parts = options.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? [];
  if (parts.join(",") !== options || parts.some((p) => !option.test(p))) {
    throw new Error(`malformed options "${abbreviateKey(options)}"`);
  }
  return { options, rest: line.slice(i).replace(/^[ \t]+/, "") };
}

/** Parses one authorized_keys line; throws InvalidValue. */
export function authorizedKey(input: string): AuthorizedKey {
  const fail = (why: string): never => {
    throw new InvalidValue(`the SSH authorized key "${abbreviateKey(input)}" is invalid: ${why}`);
  };
  if (input.length > MAX_LINE) fail(`longer than ${MAX_LINE} characters`);
  if (/[\r\n\0]/.test(input)) fail("it must be a single line");
  const line = input.trim();
  if (line === "" || line.startsWith("#")) fail("no key");
  try {
    let options = "";
    let rest = line;
    const firstWord = line.split(/[ \t]/, 1)[0]!;
    if (!isKeyType(firstWord)) {
      if (/^(ssh-|ecdsa-|sk-)/.test(firstWord) || firstWord.includes("@openssh.com")) {
        throw new Error(`unsupported key type "${abbreviateKey(firstWord)}" (supported: ${SSH_KEY_TYPES.join(", ")})`);
      }
      ({ options, rest } = splitOptions(line));
      if (rest === "") throw new Error(`unsupported key type "${abbreviateKey(firstWord)}" (supported: ${SSH_KEY_TYPES.join(", ")})`);
    }
    const [keyType = "", blob = "", ...commentParts] = rest.split(/[ \t]+/);
    if (!isKeyType(keyType)) {
      throw new Error(
        keyType === "" ? "no key type" : `unsupported key type "${abbreviateKey(keyType)}" (supported: ${SSH_KEY_TYPES.join(", ")})`,
      );
    }
    if (blob === "") throw new Error("no key data");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) throw new Error("the key data is not base64");
    const bytes = Buffer.from(blob, "base64");
    if (bytes.toString("base64") !== blob) throw new Error("the key data is not canonical base64");
    checkBlob(keyType, bytes);
    return { line, options, keyType, blob, comment: commentParts.join(" ") };
  } catch (e) {
    if (e instanceof InvalidValue) throw e;
    return fail(e instanceof Error ? e.message : String(e));
  }
}

/** Key identity for duplicate detection: type and key data, ignoring options and comment. */
export function sshKeyData(key: AuthorizedKey): string {
  return `${key.keyType} ${key.blob}`;
}
