import { describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { ResponseError } from "../../lib/signing/errors.js";
import { armor } from "../../lib/signing/openpgp/armor.js";
import { createSigningResponse, MAX_RESPONSE_BYTES, parseSigningResponse } from "../../lib/signing/response.js";

const sig = armor("SIGNATURE", Uint8Array.from([0xc2, 0x01, 0x04]));
const tooLarge = JSON.stringify({ version: "1.0.0", signature: "x".repeat(MAX_RESPONSE_BYTES) });

describe("signing responses", () => {
  it("round-trip", () => {
    const json = createSigningResponse(sig);
    expect(JSON.parse(json)).toEqual({ version: "1.0.0", signature: sig });
    expect(parseSigningResponse(new TextEncoder().encode(json))).toEqual({ version: "1.0.0", signature: sig });
    expect(parseSigningResponse(JSON.stringify({ signature: sig, version: "1.2.3" })).version).toBe("1.2.3");
  });

  const table: [string, string, string][] = [
    ["empty", "", "response: input is empty"],
    ["not JSON", "{\"version\":", "response: not valid JSON: it ends at byte 11 before the value is complete"],
    ["array", "[]", "response: expected a JSON object at top level, got an array"],
    ["unknown field", JSON.stringify({ version: "1.0.0", signature: sig, extra: 1 }), 'response: unknown field "extra" (allowed: version, signature)'],
    ["duplicate key", `{"version":"1.0.0","version":"1.0.0","signature":${JSON.stringify(sig)}}`, 'response: duplicate key "version" at top level'],
    ["missing version", JSON.stringify({ signature: sig }), "response: missing field version"],
    ["version not semver", JSON.stringify({ version: "1.0", signature: sig }), 'response: field version "1.0" is not a semantic version'],
    ["version major 2", JSON.stringify({ version: "2.0.0", signature: sig }), 'response: field version "2.0.0" has unsupported major version 2 (supported: 1)'],
    ["missing signature", JSON.stringify({ version: "1.0.0" }), "response: missing field signature"],
    ["signature not a string", JSON.stringify({ version: "1.0.0", signature: ["x"] }), "response: field signature must be a string, got an array"],
    ["signature not armored", JSON.stringify({ version: "1.0.0", signature: "aaa" }), "response: field signature: armor: no -----BEGIN PGP ...----- line"],
    ["armored key block", JSON.stringify({ version: "1.0.0", signature: armor("PUBLIC KEY BLOCK", Uint8Array.from([1])) }), "response: field signature is an armored PUBLIC KEY BLOCK, not a SIGNATURE"],
    ["bad checksum", JSON.stringify({ version: "1.0.0", signature: sig.replace(/\n=.{4}\n/, "\n=AAAA\n") }), "response: field signature: armor: CRC-24 checksum mismatch"],
    ["too large", tooLarge, `response: input is larger than ${MAX_RESPONSE_BYTES} bytes (over ${Buffer.byteLength(tooLarge)})`],
  ];
  for (const [name, input, message] of table) {
    it(`rejects: ${name}`, () => {
      let error: unknown;
      try {
        parseSigningResponse(input);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ResponseError);
      expect((error as ResponseError).exitCode).toBe(ExitCode.Remote);
      expect((error as ResponseError).message).toBe(message);
    });
  }
});
