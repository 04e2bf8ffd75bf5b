import { describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { RequestError } from "../../lib/signing/errors.js";
import { clientOptionalFields, createSigningRequest, MAX_REQUEST_BYTES, parseSigningRequest } from "../../lib/signing/request.js";
import { Sha512State } from "../../lib/signing/sha512-state.js";
import { hex, vectorJson, vectorText } from "./support.js";

const SAMPLE_DIGEST = "14fd4585924c0b04bf0d96c409611523ba5ffe3b943c589b7fcb97d80b10e4497117736ec62a6d5c1721464788db49ee870ddf75d745f3217d6d5f79d52cd4a6";
const STRAWBERRY_DIGEST = "55b956f9bb40752fa328c93523a9775aa84e1d2014372779fdcb9f525528e91ad00d6f3d5d64c71fb98cc3725c766ced6498d4b1bd3892cc894ceb1f65011337";

type Json = Record<string, unknown>;
const sample = (): Json => vectorJson("sample-request.json") as Json;
/** The sample request in compact JSON, for textual edits. */
const compact = (): string => JSON.stringify(sample());
const content = (): number[] => [...(sample()["required"] as { input: { content: number[] } }).input.content];

/** The sample request with `edit` applied to a deep copy. */
function edited(edit: (r: Json & { required: { input: Json; output: Json } }) => void): string {
  const r = sample() as Json & { required: { input: Json; output: Json } };
  edit(r);
  return JSON.stringify(r);
}

describe("parseSigningRequest accepts", () => {
  it("Signstar's 208-byte sample request and finalizes to its digest", () => {
    const req = parseSigningRequest(vectorText("sample-request.json"));
    expect(req.version).toBe("1.0.0");
    expect(hex(req.state.digest())).toBe(SAMPLE_DIGEST);
    expect(req.optional["request-time"]).toBe(1728913277);
  });

  it("the legacy 210-byte request of the specification (bytes, pretty-printed)", () => {
    const req = parseSigningRequest(new TextEncoder().encode(vectorText("sample-request-legacy.json")));
    expect(hex(req.state.digest())).toBe(STRAWBERRY_DIGEST);
  });

  it("a request without optional, with a pre-release version, and with unknown optional keys", () => {
    const noOptional = edited((r) => delete r["optional"]);
    expect(parseSigningRequest(noOptional).optional).toEqual({});
    expect(parseSigningRequest(edited((r) => (r["version"] = "1.7.3-rc.1+build.5"))).version).toBe("1.7.3-rc.1+build.5");
    expect(parseSigningRequest(edited((r) => (r["optional"] = { "x-y": [1, { z: 2.5 }], "file-name": null }))).optional["x-y"]).toEqual([1, { z: 2.5 }]);
  });

  it("round-trips createSigningRequest, staying below 1 KiB", () => {
    const state = Sha512State.create().update(new TextEncoder().encode("this is sample text"));
    const json = createSigningRequest(state, clientOptionalFields("foo.iso", new Date(1_700_000_000_000)));
    expect(json.length).toBeLessThan(1024);
    const req = parseSigningRequest(json);
    expect(hex(req.state.toBytes())).toBe(hex(state.toBytes()));
    expect(req.optional).toEqual({ "request-time": 1_700_000_000, "file-name": "foo.iso" });
  });
});

describe("request-time is an integer literal (issue 17.8)", () => {
  it("refuses an exponent as it refuses a fraction", () => {
    expect(() => parseSigningRequest(compact().replace(/"request-time":\d+/, '"request-time":1.728913277e9'))).toThrow(
      "request: field optional.request-time must be an integer literal without fraction or exponent",
    );
  });
});

describe("parseSigningRequest rejects", () => {
  const c = content();
  const table: [string, string | Uint8Array, string][] = [
    ["empty input", "", "request: input is empty"],
    ["whitespace only", "  \n", "request: input is only whitespace"],
    ["truncated JSON (bad-not-json)", compact().slice(0, 100), "request: not valid JSON: it ends at byte 100 before the value is complete"],
    ["not UTF-8", Uint8Array.from([0x7b, 0xff, 0x7d]), "request: input is not valid UTF-8"],
    ["UTF-8 BOM", "\ufeff" + vectorText("sample-request.json"), "request: not valid JSON at byte 0"],
    ["huge input (string)", `{"version":"1.0.0","optional":{"x":"${"a".repeat(MAX_REQUEST_BYTES)}"}}`, `request: input is larger than ${MAX_REQUEST_BYTES} bytes (over 65575)`],
    ["huge input (bytes)", new Uint8Array(MAX_REQUEST_BYTES + 1).fill(0x20), `request: input is larger than ${MAX_REQUEST_BYTES} bytes (65537)`],
    ["multi-byte characters over the bound", `{"optional":{"x":"${"é".repeat(MAX_REQUEST_BYTES / 2)}"}}`, `request: input is larger than ${MAX_REQUEST_BYTES} bytes (65557)`],
    ["top level array", "[1,2,3]", "request: expected a JSON object at top level, got an array"],
    ["top level string", '"1.0.0"', 'request: expected a JSON object at top level, got "1.0.0"'],
    ["unknown top-level field", edited((r) => (r["extra"] = 1)), 'request: unknown field "extra" (allowed at top level: version, required, optional)'],
    ["duplicate top-level key", compact().replace('{"version":"1.0.0"', '{"version":"2.0.0","version":"1.0.0"'), 'request: duplicate key "version" at top level'],
    ["duplicate key in required.input (escaped)", compact().replace('"type":"sha2', '"t\\u0079pe":"x","type":"sha2'), 'request: duplicate key "type" in required.input'],
    ["missing version", edited((r) => delete r["version"]), "request: missing field version"],
    ["version is a number", edited((r) => (r["version"] = 1)), "request: field version must be a string, got 1"],
    ["version 1.0 (not semver)", edited((r) => (r["version"] = "1.0")), 'request: field version "1.0" is not a semantic version (e.g. "1.0.0")'],
    ["version with leading zero", edited((r) => (r["version"] = "01.0.0")), 'request: field version "01.0.0" is not a semantic version (e.g. "1.0.0")'],
    ["wrong major version 2", edited((r) => (r["version"] = "2.0.0")), 'request: field version "2.0.0" has unsupported major version 2 (supported: 1)'],
    ["wrong major version 0", edited((r) => (r["version"] = "0.9.0")), 'request: field version "0.9.0" has unsupported major version 0 (supported: 1)'],
    ["missing required (bad-no-required-dict)", '{"version":"1.0.0","optional":{}}', "request: missing field required"],
    ["required is an array", edited((r) => ((r as Json)["required"] = [])), "request: field required must be an object, got an array"],
    ["unknown required field", edited((r) => ((r.required as Json)["policy"] = {})), 'request: unknown field "required.policy" (allowed in required: input, output)'],
    ["missing input (bad-no-req-input)", edited((r) => delete (r.required as Json)["input"]), "request: missing field required.input"],
    ["input is null", edited((r) => ((r.required as Json)["input"] = null)), "request: field required.input must be an object, got null"],
    ["unknown field in input", edited((r) => (r.required.input["hash"] = "sha512")), 'request: unknown field "required.input.hash" (allowed in required.input: type, content)'],
    ["missing input type", edited((r) => delete r.required.input["type"]), "request: missing field required.input.type"],
    ["unknown input type (bad-unknown-type)", edited((r) => (r.required.input["type"] = "sha2-0.12-SHA512-state")), 'request: unsupported required.input.type "sha2-0.12-SHA512-state" (supported: sha2-0.11-SHA512-state)'],
    ["missing content", edited((r) => delete r.required.input["content"]), "request: missing field required.input.content"],
    ["content is a string (bad-req-input-content-wrong-type)", edited((r) => (r.required.input["content"] = "base64==")), 'request: field required.input.content must be an array of integers 0-255, got "base64=="'],
    ["content element 256", edited((r) => (r.required.input["content"] = [...c.slice(0, 5), 256, ...c.slice(6)])), "request: field required.input.content[5] must be an integer 0-255, got 256"],
    ["content element negative", edited((r) => (r.required.input["content"] = [-1, ...c.slice(1)])), "request: field required.input.content[0] must be an integer 0-255, got -1"],
    ["content element fractional", edited((r) => (r.required.input["content"] = [...c.slice(0, 3), 1.5, ...c.slice(4)])), "request: field required.input.content[3] must be an integer 0-255, got 1.5"],
    ["content element as string", edited((r) => (r.required.input["content"] = [...c.slice(0, 7), "8", ...c.slice(8)])), 'request: field required.input.content[7] must be an integer 0-255, got "8"'],
    ["content element written 1.0", compact().replace('"content":[8,', '"content":[8.0,'), "request: field required.input.content[0] must be an integer literal without fraction or exponent"],
    ["content element written 2e1", compact().replace('"content":[8,201,', '"content":[8,2e1,'), "request: field required.input.content[1] must be an integer literal without fraction or exponent"],
    ["content too short (207)", edited((r) => (r.required.input["content"] = c.slice(0, 207))), "request: field required.input.content: hasher state: expected 208 bytes (or 210 in the legacy layout), got 207"],
    ["content too long (211)", edited((r) => (r.required.input["content"] = [...c, 0, 0, 0])), "request: field required.input.content: hasher state: expected 208 bytes (or 210 in the legacy layout), got 211"],
    ["pos >= 128", edited((r) => (r.required.input["content"] = [...c.slice(0, 80), 128, ...c.slice(81)])), "request: field required.input.content: hasher state: buffered byte count 128 at offset 80 is not below 128"],
    ["non-zero tail", edited((r) => (r.required.input["content"] = [...c.slice(0, 207), 1])), "request: field required.input.content: hasher state: non-zero byte at offset 207 after the 19 buffered bytes"],
    ["legacy layout without output size 64", edited((r) => (r.required.input["content"] = [...c.slice(0, 80), 65, 0, ...c.slice(81), 0])), "request: field required.input.content: hasher state: legacy 210-byte layout needs output size 64 at offset 80, got 65"],
    ["missing output (bad-no-req-output)", edited((r) => delete (r.required as Json)["output"]), "request: missing field required.output"],
    ["unknown output type", edited((r) => (r.required.output["type"] = "OpenPGPv6")), 'request: unsupported required.output.type "OpenPGPv6" (supported: OpenPGPv4)'],
    ["output type wrong case", edited((r) => (r.required.output["type"] = "openpgpv4")), 'request: unsupported required.output.type "openpgpv4" (supported: OpenPGPv4)'],
    ["unknown field in output", edited((r) => (r.required.output["armor"] = true)), 'request: unknown field "required.output.armor" (allowed in required.output: type)'],
    ["optional is an array", edited((r) => (r["optional"] = [])), "request: field optional must be an object, got an array"],
    ["request-time 1728913277.0 (issue 17.8)", compact().replace(/"request-time":\d+/, '"request-time":1728913277.0'), "request: field optional.request-time must be an integer literal without fraction or exponent"],
    ["a terminal escape where JSON expects a value (issue 17.7)", '{"version":"1.0.0","required":\u001b[2J}', "request: not valid JSON at byte 30"],
    ["an unknown word after a complete prefix", '{"version":"1.0.0","required":{"input":garbage}}', "request: not valid JSON at byte 39"],
    ["optional request-time negative", edited((r) => (r["optional"] = { "request-time": -5 })), "request: field optional.request-time must be a non-negative integer (Unix seconds), got -5"],
    ["optional file-name not a string", edited((r) => (r["optional"] = { "file-name": 42 })), "request: field optional.file-name must be a string of at most 4096 characters or null, got 42"],
  ];

  it(`has at least 25 distinct cases, each with its own message (${table.length})`, () => {
    expect(table.length).toBeGreaterThanOrEqual(25);
    const messages = table.map(([, input]) => {
      try {
        parseSigningRequest(input);
        return "accepted";
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    });
    expect(new Set(messages).size).toBe(table.length);
  });

  for (const [name, input, message] of table) {
    it(name, () => {
      let error: unknown;
      try {
        parseSigningRequest(input);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RequestError);
      const err = error as RequestError;
      expect(err.exitCode).toBe(ExitCode.BadInput);
      expect(err.message).toBe(message);
      expect(err.message).not.toMatch(/[\r\n]/);
      expect(err.message.length).toBeLessThan(300);
    });
  }
});
