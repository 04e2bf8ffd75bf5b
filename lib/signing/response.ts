/**
 * Signing responses: `{"version":"1.0.0","signature":"<ASCII-armored OpenPGP signature>"}`.
 * The client parses them as strictly as the server parses requests: bounded size, UTF-8 JSON, no duplicate keys,
 * exactly the two fields, SemVer version with major 1 (Signstar's client does not check the major; we do), and a
 * signature that dearmors as a PGP SIGNATURE block with a valid checksum.
 */
import { OpenPgpError, ResponseError } from "./errors.js";
import { dearmor } from "./openpgp/armor.js";
import { decodeBounded, describe, isPlainObject, parseStrictJson, semverMajor, StrictJsonError } from "./strict-json.js";

export const MAX_RESPONSE_BYTES = 65536;
export const RESPONSE_VERSION = "1.0.0";

function fail(message: string): never {
  throw new ResponseError(`response: ${message}`);
}

export function createSigningResponse(armoredSignature: string): string {
  return JSON.stringify({ version: RESPONSE_VERSION, signature: armoredSignature });
}

export function parseSigningResponse(raw: Uint8Array | string): { version: string; signature: string } {
  let value: unknown;
  try {
    value = parseStrictJson(decodeBounded(raw, MAX_RESPONSE_BYTES)).value;
  } catch (e) {
    if (e instanceof StrictJsonError) fail(e.message);
    throw e;
  }
  if (!isPlainObject(value)) fail(`expected a JSON object at top level, got ${describe(value)}`);
  for (const key of Object.keys(value)) {
    if (key !== "version" && key !== "signature") fail(`unknown field ${JSON.stringify(key.slice(0, 80))} (allowed: version, signature)`);
  }
  if (!Object.hasOwn(value, "version")) fail("missing field version");
  const version = value["version"];
  if (typeof version !== "string") fail(`field version must be a string, got ${describe(version)}`);
  const major = version.length <= 64 ? semverMajor(version) : null;
  if (major === null) fail(`field version ${describe(version)} is not a semantic version`);
  if (major !== 1) fail(`field version ${describe(version)} has unsupported major version ${major} (supported: 1)`);
  if (!Object.hasOwn(value, "signature")) fail("missing field signature");
  const signature = value["signature"];
  if (typeof signature !== "string") fail(`field signature must be a string, got ${describe(signature)}`);
  let type: string;
  try {
    type = dearmor(signature).type;
  } catch (e) {
    if (e instanceof OpenPgpError) fail(`field signature: ${e.message}`);
    throw e;
  }
  if (type !== "SIGNATURE") fail(`field signature is an armored ${type}, not a SIGNATURE`);
  return { version, signature };
}
