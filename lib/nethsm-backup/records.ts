/**
 * The JSON records inside the NetHSM stores (keyfender's `src/keyfender/json.ml`, Nitrokey/nethsm 4e192fb9). yojson writes raw bytes into JSON strings,
 * so records are read as latin1 text and byte strings are recovered with Buffer.from(s, "latin1").
 */
import { BackupError } from "./errors.js";

export type UserRole = "Administrator" | "Operator" | "Metrics" | "Backup";
const ROLES: readonly string[] = ["Administrator", "Operator", "Metrics", "Backup"];

export interface UserRecord {
  readonly realName: string;
  readonly salt: Uint8Array;
  /** HMAC-SHA256(key = salt, passphrase). */
  readonly digest: Uint8Array;
  readonly role: UserRole;
  readonly tags: readonly string[];
}

export type PrivateKeyRecord = { readonly pem: string } | { readonly raw: Uint8Array };

export interface KeyRecord {
  readonly mechanisms: readonly string[];
  readonly priv: PrivateKeyRecord;
  readonly cert: { readonly contentType: string; readonly data: Uint8Array } | undefined;
  readonly operations: number;
  readonly tags: readonly string[];
  readonly label?: string;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new BackupError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}
function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw new BackupError(`${what} is not a string`);
  return v;
}
function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new BackupError(`${what} is not a list of strings`);
  return v as string[];
}
function parseLatin1Json(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString("latin1"));
  } catch {
    throw new BackupError(`${what} is not valid JSON`);
  }
}
const bytesOf = (s: string): Buffer => Buffer.from(s, "latin1");
const latin1Of = (b: Uint8Array): string => Buffer.from(b).toString("latin1");
const utf8FromLatin1 = (s: string): string => Buffer.from(s, "latin1").toString("utf8");
const latin1FromUtf8 = (s: string): string => Buffer.from(s, "utf8").toString("latin1");
/** JSON as yojson writes it: bytes ≥ 0x80 as-is, control characters and DEL escaped as \u00XX. */
const encodeJson = (v: unknown): Buffer => Buffer.from(JSON.stringify(v).replace(/\x7f/g, "\\u007f"), "latin1");

export function parseUserRecord(bytes: Uint8Array, what: string): UserRecord {
  const o = obj(parseLatin1Json(bytes, what), what);
  const role = str(o.role, `${what}.role`);
  if (!ROLES.includes(role)) throw new BackupError(`${what}.role "${role}" is not a NetHSM role`);
  return {
    realName: utf8FromLatin1(str(o.name, `${what}.name`)),
    salt: bytesOf(str(o.salt, `${what}.salt`)),
    digest: bytesOf(str(o.digest, `${what}.digest`)),
    role: role as UserRole,
    tags: strings(o.tags ?? [], `${what}.tags`),
  };
}

export function encodeUserRecord(u: UserRecord): Buffer {
  return encodeJson({ name: latin1FromUtf8(u.realName), salt: latin1Of(u.salt), digest: latin1Of(u.digest), role: u.role, tags: u.tags });
}

export function parseKeyRecord(bytes: Uint8Array, what: string): KeyRecord {
  const o = obj(parseLatin1Json(bytes, what), what);
  const privObj = obj(o.priv, `${what}.priv`);
  let priv: PrivateKeyRecord;
  if (typeof privObj.PEM === "string") priv = { pem: privObj.PEM };
  else if (typeof privObj.raw === "string") priv = { raw: Buffer.from(privObj.raw, "base64") };
  else throw new BackupError(`${what}.priv has neither PEM nor raw`);
  let cert: KeyRecord["cert"];
  if (o.cert !== null && o.cert !== undefined) {
    if (!Array.isArray(o.cert) || o.cert.length !== 2) throw new BackupError(`${what}.cert is not [type, data]`);
    cert = { contentType: str(o.cert[0], `${what}.cert[0]`), data: bytesOf(str(o.cert[1], `${what}.cert[1]`)) };
  }
  const restrictions = obj(o.restrictions ?? {}, `${what}.restrictions`);
  const operations = o.operations ?? 0;
  if (typeof operations !== "number" || !Number.isSafeInteger(operations) || operations < 0) {
    throw new BackupError(`${what}.operations is not a count`);
  }
  return {
    mechanisms: strings(o.mechanisms, `${what}.mechanisms`),
    priv,
    cert,
    operations,
    tags: strings(restrictions.tags ?? [], `${what}.restrictions.tags`),
    ...(typeof o.label === "string" && o.label !== "" ? { label: utf8FromLatin1(o.label) } : {}),
  };
}

export function encodeKeyRecord(k: KeyRecord): Buffer {
  return encodeJson({
    mechanisms: k.mechanisms,
    priv: "pem" in k.priv ? { PEM: k.priv.pem } : { raw: Buffer.from(k.priv.raw).toString("base64") },
    cert: k.cert ? [k.cert.contentType, latin1Of(k.cert.data)] : null,
    operations: k.operations,
    restrictions: k.tags.length > 0 ? { tags: k.tags } : {},
    ...(k.label ? { label: latin1FromUtf8(k.label) } : {}),
  });
}
