/**
 * The log writer's socket protocol: one JSON object per line, at most 4 KiB, request then answer, in order.
 *
 *     → {"op":"reserve"}                                    ← {"ok":true,"index":N,"origin":"<origin>"}
 *     → {"op":"commit","index":N,"key":…,"digest":…,"created":T,"packet":…}
 *                                                           ← {"ok":true,"size":S}   (only once durable)
 *     → {"op":"release","index":N}                          ← {"ok":true}
 *     any failure                                           ← {"ok":false,"error":"<one line>"}
 *
 * The entry's user is never sent: the writer takes it from the kernel (SO_PEERCRED). Reservations belong to their
 * connection; when it closes, the ones not committed become void entries at once.
 */
import { LogFormatError } from "./errors.js";

export const MAX_LINE_BYTES = 4096;

export type LogRequest =
  | { readonly op: "reserve" }
  | { readonly op: "release"; readonly index: number }
  | { readonly op: "commit"; readonly index: number; readonly key: string; readonly digest: string; readonly created: number; readonly packet: string };

export type LogAnswer =
  | { readonly ok: true; readonly index?: number; readonly origin?: string; readonly size?: number }
  | { readonly ok: false; readonly error: string };

function index(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new LogFormatError("log request: bad index");
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length > 256) throw new LogFormatError(`log request: bad ${what}`);
  return v;
}

/** Parses one request line strictly (known op, exactly its fields). */
export function parseRequest(line: string): LogRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new LogFormatError("log request is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new LogFormatError("log request is not an object");
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(",");
  switch (o["op"]) {
    case "reserve":
      if (keys !== "op") break;
      return { op: "reserve" };
    case "release":
      if (keys !== "index,op") break;
      return { op: "release", index: index(o["index"]) };
    case "commit":
      if (keys !== "created,digest,index,key,op,packet") break;
      return {
        op: "commit",
        index: index(o["index"]),
        key: str(o["key"], "key"),
        digest: str(o["digest"], "digest"),
        created: index(o["created"]),
        packet: str(o["packet"], "packet"),
      };
  }
  throw new LogFormatError("log request: unknown operation or fields");
}
