/** HTTP plumbing of the stand-in: errors with the device's bodies, strict JSON bodies, Basic auth parsing. */

/** An error answer. With a message: `{"message": …}` JSON body (handler errors); without: empty body (webmachine). */
export class HttpErr extends Error {
  constructor(
    readonly status: number,
    readonly body?: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(body ?? String(status));
  }
}

export type FieldType = "string" | "integer" | "array" | "object" | "string[]";
export interface FieldSpec {
  readonly type: FieldType;
  readonly required?: boolean;
}

/**
 * Parses a JSON request body strictly like ppx_deriving_yojson: an unknown property or a missing required
 * one is a 400, as are type mismatches.
 */
export function strictJson(body: Buffer, fields: Readonly<Record<string, FieldSpec>>): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpErr(400, "Invalid JSON: malformed request body");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new HttpErr(400, "Invalid data for JSON schema: expected an object");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(k in fields)) throw new HttpErr(400, `Invalid data for JSON schema: unknown field ${k}`);
  }
  for (const [k, spec] of Object.entries(fields)) {
    const x = o[k];
    if (x === undefined) {
      if (spec.required) throw new HttpErr(400, `Invalid data for JSON schema: missing field ${k}`);
      continue;
    }
    const ok =
      spec.type === "string" ? typeof x === "string"
      : spec.type === "integer" ? Number.isInteger(x)
      : spec.type === "array" ? Array.isArray(x)
      : spec.type === "string[]" ? Array.isArray(x) && x.every((y) => typeof y === "string")
      : typeof x === "object" && x !== null && !Array.isArray(x);
    if (!ok) throw new HttpErr(400, `Invalid data for JSON schema: field ${k} has the wrong type`);
  }
  return o;
}

export function base64Field(v: unknown, what: string): Buffer {
  if (typeof v !== "string") throw new HttpErr(400, `${what} must be base64`);
  const s = v.replace(/\n/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new HttpErr(400, `${what} is not valid base64`);
  return Buffer.from(s, "base64");
}

export const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export function checkId(id: string, what = "ID"): string {
  if (id.length < 1 || id.length > 128 || !ID_RE.test(id)) {
    throw new HttpErr(400, `${what} may only contain alphanumeric characters, underscores, dashes, and dots.`);
  }
  return id;
}

export interface UserRef {
  readonly id: string;
  readonly namespace: string | undefined;
  readonly name: string;
}

export function parseUserId(id: string): UserRef {
  const parts = id.split("~");
  if (parts.length === 1) return { id, namespace: undefined, name: checkId(id, "UserID") };
  if (parts.length === 2) {
    checkId(parts[0]!, "UserID");
    checkId(parts[1]!, "UserID");
    return { id, namespace: parts[0]!, name: parts[1]! };
  }
  throw new HttpErr(400, "UserID may only contain one namespace separator.");
}

export function checkPassphrase(p: unknown, what = "passphrase"): string {
  if (typeof p !== "string") throw new HttpErr(400, `${what} must be a string`);
  const n = Buffer.byteLength(p, "utf8");
  if (n < 10 || n > 200) throw new HttpErr(400, `${what} is not >= 10 and <= 200 characters`);
  return p;
}

export function parseBasicAuth(header: string | undefined): { user: string; passphrase: string } | "none" | "malformed" {
  if (!header) return "none";
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header.trim());
  if (!m) return "malformed";
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const i = text.indexOf(":");
  if (i < 0) return "malformed";
  return { user: text.slice(0, i), passphrase: text.slice(i + 1) };
}

export interface Part {
  readonly headers: Record<string, string>;
  readonly data: Buffer;
}

/** multipart/form-data parser (bounded by the body size). */
export function parseMultipart(body: Buffer, contentType: string): Part[] {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) throw new HttpErr(400, "multipart body without boundary");
  const boundary = Buffer.from(`--${m[1] ?? m[2]!.trim()}`);
  const parts: Part[] = [];
  let pos = body.indexOf(boundary);
  if (pos < 0) throw new HttpErr(400, "malformed multipart body");
  for (;;) {
    pos += boundary.length;
    if (body.subarray(pos, pos + 2).toString() === "--") break;
    if (body.subarray(pos, pos + 2).toString() !== "\r\n") throw new HttpErr(400, "malformed multipart body");
    pos += 2;
    const headerEnd = body.indexOf("\r\n\r\n", pos);
    if (headerEnd < 0) throw new HttpErr(400, "malformed multipart body");
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headerEnd).toString("latin1").split("\r\n")) {
      const i = line.indexOf(":");
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), boundary]), headerEnd + 4);
    if (next < 0) throw new HttpErr(400, "malformed multipart body");
    parts.push({ headers, data: body.subarray(headerEnd + 4, next) });
    pos = next + 2;
  }
  return parts;
}
