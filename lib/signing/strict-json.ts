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

export function parseStrictJson(text: string): StrictJson {
  if (text === "") throw new StrictJsonError("input is empty");
  if (text.trim() === "") throw new StrictJsonError("input is only whitespace");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new StrictJsonError(`not valid JSON (${detail.slice(0, 120)})`);
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
