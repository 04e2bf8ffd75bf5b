import { describe, expect, it } from "vitest";
import { decodeAnswer, encodeAnswer, frame, MAX_FRAME_BYTES } from "../../lib/signer/frames.js";

describe("answer frames", () => {
  it("encode stdout, one stderr line and the exit code, in that order, and decode back", () => {
    const bytes = encodeAnswer({ stdout: "out", stderr: "tool: refused", code: 5 });
    expect([...bytes.subarray(0, 8)]).toEqual([0x4f, 0, 0, 0, 3, 0x6f, 0x75, 0x74]);
    expect(decodeAnswer(bytes)).toEqual({ stdout: Buffer.from("out"), stderr: "tool: refused\n", code: 5 });
    expect(decodeAnswer(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
  });

  it("refuse an exit code that is not a byte and an oversized frame", () => {
    expect(() => encodeAnswer({ code: 256 })).toThrow(/not a byte/);
    expect(() => frame("O", new Uint8Array(MAX_FRAME_BYTES + 1))).toThrow(/exceeds/);
    expect(() => decodeAnswer(Buffer.from([0x51, 0, 0, 0, 0]))).toThrow(/unknown frame/);
  });
});
