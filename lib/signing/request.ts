/**
 * Signing requests (Signstar `signstar-request-signature` format, spec `request.md`):
 *
 * ```json
 * {"version":"1.0.0",
 *  "required":{"input":{"type":"sha2-0.11-SHA512-state","content":[<208 integers 0..255>]},
 *              "output":{"type":"OpenPGPv4"}},
 *  "optional":{"request-time":1728913277,"file-name":"foo.tar.zst"}}
 * ```
 *
 * The parser follows the specification's MUSTs, stricter than Signstar's serde parser:
 * - the raw input is bounded to MAX_REQUEST_BYTES before anything is parsed; it must be UTF-8 JSON;
 * - duplicate keys anywhere are rejected (JSON.parse would keep the last one silently);
 * - fields other than `version`/`required`/`optional` at top level, other than `input`/`output` in `required`, and
 *   other than `type`/`content` in `required.input` and `type` in `required.output` are rejected;
 * - `version` must be a SemVer 2.0.0 string with major 1 (`"1.0"` and `"2.0.0"` are rejected);
 * - `required.input.type` must be exactly `sha2-0.11-SHA512-state`, `required.output.type` exactly `OpenPGPv4`;
 * - `content` must be an array of integer literals 0–255 forming the 208-byte state, or the legacy 210-byte one
 *   (byte 80 == 64), with every check of Sha512State.fromBytes (pos < 128, zero tail);
 * - `optional` may be absent (Signstar's parser requires it; the spec calls it optional). When present it must be
 *   an object. Its keys are ignored except the documented ones, whose types are checked:
 *   `request-time` (non-negative integer, Unix seconds) and `file-name` (string of at most 4096 characters, or null).
 */
import { RequestError, SigningInputError } from "./errors.js";
import { Sha512State } from "./sha512-state.js";
import { decodeBounded, describe, isPlainObject, parseStrictJson, semverMajor, StrictJsonError } from "./strict-json.js";

export const MAX_REQUEST_BYTES = 65536;
export const REQUEST_VERSION = "1.0.0";
export const INPUT_TYPE = "sha2-0.11-SHA512-state";
export const OUTPUT_TYPE = "OpenPGPv4";

export interface SigningRequest {
  version: string;
  state: Sha512State;
  optional: Record<string, unknown>;
}

function fail(message: string): never {
  throw new RequestError(`request: ${message}`);
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      const name = where === "" ? key : `${where}.${key}`;
      fail(`unknown field ${JSON.stringify(name.slice(0, 80))} (allowed${where === "" ? " at top level" : ` in ${where}`}: ${allowed.join(", ")})`);
    }
  }
}

function object(parent: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  if (!(Object.hasOwn(parent, key))) fail(`missing field ${path}`);
  const v = parent[key];
  if (!isPlainObject(v)) fail(`field ${path} must be an object, got ${describe(v)}`);
  return v;
}

function string(parent: Record<string, unknown>, key: string, path: string): string {
  if (!(Object.hasOwn(parent, key))) fail(`missing field ${path}`);
  const v = parent[key];
  if (typeof v !== "string") fail(`field ${path} must be a string, got ${describe(v)}`);
  return v;
}

function content(v: unknown, nonIntegerLiterals: readonly string[]): Uint8Array {
  const path = "required.input.content";
  if (!Array.isArray(v)) fail(`field ${path} must be an array of integers 0-255, got ${describe(v)}`);
  const bytes = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i];
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 255) {
      fail(`field ${path}[${i}] must be an integer 0-255, got ${describe(x)}`);
    }
    bytes[i] = x;
  }
  const literal = nonIntegerLiterals.find((p) => p.startsWith(`${path}[`));
  if (literal !== undefined) fail(`field ${literal} must be an integer literal without fraction or exponent`);
  return bytes;
}

function checkOptional(optional: Record<string, unknown>, nonIntegerLiterals: readonly string[]): void {
  if (Object.hasOwn(optional, "request-time")) {
    const t = optional["request-time"];
    if (typeof t !== "number" || !Number.isSafeInteger(t) || t < 0) {
      fail(`field optional.request-time must be a non-negative integer (Unix seconds), got ${describe(t)}`);
    }
    // 1.0 and 1.728913277e9 are integers to JSON.parse; like content, only integer literals are accepted.
    if (nonIntegerLiterals.includes("optional.request-time")) {
      fail("field optional.request-time must be an integer literal without fraction or exponent");
    }
  }
  if (Object.hasOwn(optional, "file-name")) {
    const f = optional["file-name"];
    if (f !== null && (typeof f !== "string" || f.length > 4096)) {
      fail(`field optional.file-name must be a string of at most 4096 characters or null, got ${describe(f)}`);
    }
  }
}

/** Parses and validates a signing request. Throws RequestError (exit code BadInput) naming the field at fault. */
export function parseSigningRequest(raw: Uint8Array | string): SigningRequest {
  let parsed;
  try {
    parsed = parseStrictJson(decodeBounded(raw, MAX_REQUEST_BYTES));
  } catch (e) {
    if (e instanceof StrictJsonError) fail(e.message);
    throw e;
  }
  const top = parsed.value;
  if (!isPlainObject(top)) fail(`expected a JSON object at top level, got ${describe(top)}`);
  onlyKeys(top, ["version", "required", "optional"], "");

  const version = string(top, "version", "version");
  const major = version.length <= 64 ? semverMajor(version) : null;
  if (major === null) fail(`field version ${describe(version)} is not a semantic version (e.g. "1.0.0")`);
  if (major !== 1) fail(`field version ${describe(version)} has unsupported major version ${major} (supported: 1)`);

  const required = object(top, "required", "required");
  onlyKeys(required, ["input", "output"], "required");
  const input = object(required, "input", "required.input");
  onlyKeys(input, ["type", "content"], "required.input");
  const inputType = string(input, "type", "required.input.type");
  if (inputType !== INPUT_TYPE) fail(`unsupported required.input.type ${describe(inputType)} (supported: ${INPUT_TYPE})`);
  if (!Object.hasOwn(input, "content")) fail("missing field required.input.content");
  const bytes = content(input["content"], parsed.nonIntegerLiterals);
  const output = object(required, "output", "required.output");
  onlyKeys(output, ["type"], "required.output");
  const outputType = string(output, "type", "required.output.type");
  if (outputType !== OUTPUT_TYPE) fail(`unsupported required.output.type ${describe(outputType)} (supported: ${OUTPUT_TYPE})`);

  let optional: Record<string, unknown> = {};
  if (Object.hasOwn(top, "optional")) {
    const o = top["optional"];
    if (!isPlainObject(o)) fail(`field optional must be an object, got ${describe(o)}`);
    checkOptional(o, parsed.nonIntegerLiterals);
    optional = o;
  }

  let state: Sha512State;
  try {
    state = Sha512State.fromBytes(bytes);
  } catch (e) {
    if (e instanceof SigningInputError) fail(`field required.input.content: ${e.message}`);
    throw e;
  }
  return { version, state, optional };
}

/** Serializes a signing request (version 1.0.0, 208-byte state). */
export function createSigningRequest(state: Sha512State, optional: Record<string, unknown> = {}): string {
  const json = JSON.stringify({
    version: REQUEST_VERSION,
    required: { input: { type: INPUT_TYPE, content: Array.from(state.toBytes()) }, output: { type: OUTPUT_TYPE } },
    optional,
  });
  if (Buffer.byteLength(json, "utf8") > MAX_REQUEST_BYTES) fail(`optional fields make the request larger than ${MAX_REQUEST_BYTES} bytes`);
  return json;
}

/** The optional fields a client sends (as Signstar's client does): request time and file name. */
export function clientOptionalFields(fileName: string | null, now: Date): Record<string, unknown> {
  return { "request-time": Math.floor(now.getTime() / 1000), "file-name": fileName };
}
