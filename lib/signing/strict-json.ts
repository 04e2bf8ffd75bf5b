/**
 * JSON parsing for signing requests and responses, stricter than JSON.parse:
 * - input bytes must be UTF-8 (no BOM) and within a size bound, checked BEFORE parsing;
 * - duplicate object keys are rejected (JSON.parse silently keeps the last one, so two parsers could disagree on
 *   what was requested; RFC 8259 §4 leaves it undefined, we refuse it);
 * - the paths of numbers written with a fraction or exponent (`1.0`, `1e2`) are reported, so callers can demand
 *   integer literals where serde would.
 * Syntax is checked by JSON.parse itself; a light scanner then walks the (valid) text for keys and numbers.
 */

export class StrictJsonError extends Error {}

export interface StrictJson {
  value: unknown;
  /** Paths (e.g. `required.input.content[3]`) of numbers written with a fraction or exponent; at most 16. */
  nonIntegerLiterals: string[];
}

/** Decodes and size-checks raw input. `limit` is in bytes. */
export function decodeBounded(raw: Uint8Array | string, limit: number): string {
  if (typeof raw === "string") {
    const bytes = raw.length > limit ? raw.length : Buffer.byteLength(raw, "utf8");
    if (bytes > limit) throw new StrictJsonError(`input is larger than ${limit} bytes (${raw.length > limit ? "over " : ""}${bytes})`);
    return raw;
  }
  if (raw.length > limit) throw new StrictJsonError(`input is larger than ${limit} bytes (${raw.length})`);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    throw new StrictJsonError("input is not valid UTF-8");
  }
}

interface Frame {
  readonly kind: "object" | "array";
  readonly path: string;
  readonly keys: Set<string>;
  expectKey: boolean;
  lastKey: string;
  index: number;
}

function childPath(frame: Frame | undefined): string {
  if (frame === undefined) return "";
  if (frame.kind === "array") return `${frame.path}[${frame.index}]`;
  return frame.path === "" ? frame.lastKey : `${frame.path}.${frame.lastKey}`;
}

const END = /Unexpected end of JSON input/;

function parses(prefix: string): "ok" | "end" | "bad" {
  try {
    JSON.parse(prefix);
    return "ok";
  } catch (e) {
    const message = e instanceof Error ? e.message : "";
    const m = /at position (\d+)/.exec(message);
    // "Expected property name … at position 1" for "{" is also running out of input.
    return END.test(message) || (m !== null && Number(m[1]) >= prefix.length) ? "end" : "bad";
  }
}

/**
 * The character offset of a syntax error: V8's "at position N" where it gives one, else the end of the shortest
 * prefix that fails other than by ending early (found by bisection; JSON errors persist in longer prefixes, up to
 * the odd number cut in half).
 */
function errorOffset(text: string, detail: string): number {
  const m = /at position (\d+)/.exec(detail);
  if (m !== null) return Math.min(Number(m[1]), text.length);
  if (END.test(detail)) return text.length;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (parses(text.slice(0, mid + 1)) === "bad") hi = mid;
    else lo = mid + 1;
  }
  return Math.min(lo, text.length);
}

function byteOffset(text: string, chars: number): number {
  return new TextEncoder().encode(text.slice(0, chars)).length;
}

export function parseStrictJson(text: string): StrictJson {
  if (text === "") throw new StrictJsonError("input is empty");
  if (text.trim() === "") throw new StrictJsonError("input is only whitespace");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // Our own words, never V8's message: that quotes the input, control characters and all.
    const detail = e instanceof Error ? e.message : String(e);
    const at = errorOffset(text, detail);
    throw new StrictJsonError(
      at === text.length ? `not valid JSON: it ends at byte ${byteOffset(text, at)} before the value is complete` : `not valid JSON at byte ${byteOffset(text, at)}`,
    );
  }
  const nonIntegerLiterals: string[] = [];
  const stack: Frame[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    switch (c) {
      case 0x7b /* { */:
      case 0x5b /* [ */:
        stack.push({
          kind: c === 0x7b ? "object" : "array",
          path: childPath(top),
          keys: new Set(),
          expectKey: c === 0x7b,
          lastKey: "",
          index: 0,
        });
        break;
      case 0x7d /* } */:
      case 0x5d /* ] */:
        stack.pop();
        break;
      case 0x2c /* , */:
        if (top?.kind === "object") top.expectKey = true;
        else if (top !== undefined) top.index++;
        break;
      case 0x22 /* " */: {
        let j = i + 1;
        while (j < n) {
          const d = text.charCodeAt(j);
          if (d === 0x5c) j += 2;
          else if (d === 0x22) break;
          else j++;
        }
        if (top?.kind === "object" && top.expectKey) {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (top.keys.has(key)) {
            const where = top.path === "" ? "at top level" : `in ${top.path}`;
            throw new StrictJsonError(`duplicate key ${JSON.stringify(key.slice(0, 64))} ${where}`);
          }
          top.keys.add(key);
          top.lastKey = key;
          top.expectKey = false;
        }
        i = j;
        break;
      }
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
          let j = i;
          let integral = true;
          while (j < n) {
            const d = text.charCodeAt(j);
            if (d === 0x2e || d === 0x65 || d === 0x45) integral = false;
            else if (!(d === 0x2d || d === 0x2b || (d >= 0x30 && d <= 0x39))) break;
            j++;
          }
          if (!integral && nonIntegerLiterals.length < 16) nonIntegerLiterals.push(childPath(top));
          i = j - 1;
        }
    }
  }
  return { value, nonIntegerLiterals };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A short, single-line rendering of a JSON value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Strict SemVer 2.0.0; returns the major version or null. */
export function semverMajor(version: string): number | null {
  const m =
    /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$/.exec(
      version,
    );
  return m === null ? null : Number(m[1]);
}
