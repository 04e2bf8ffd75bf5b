/**
 * The answer of a resident signer to the forwarder (lib/signer/native/forwarder.c), on the same Unix socket
 * connection that carried the request: frames of `type (1 byte) | length (4 bytes, big-endian) | payload`.
 *   'O'  bytes for the forwarder's stdout (it holds them until 'X', so a failed request prints nothing there)
 *   'E'  one line for its stderr (with the newline)
 *   'X'  the exit code, one byte; always the last frame
 * The request itself is not framed: the forwarder sends stdin as it is and half-closes (shutdown SHUT_WR).
 */
import { SignstarError, ExitCode } from "../errors.js";

export type FrameType = "O" | "E" | "X";

/** The forwarder refuses a larger frame (forwarder.c MAX_FRAME); so do we. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** What one request ends with: the in-process tool's stdout, its one stderr line, its exit code. */
export interface Answer {
  readonly stdout?: string | Uint8Array;
  readonly stderr?: string;
  readonly code: number;
}

export function frame(type: FrameType, payload: Uint8Array): Buffer {
  if (payload.length > MAX_FRAME_BYTES) throw new SignstarError(`a ${type} frame of ${payload.length} bytes exceeds ${MAX_FRAME_BYTES}`, ExitCode.Internal);
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** The frames of an answer, in the order the forwarder expects: stdout, the stderr line, the exit code. */
export function encodeAnswer(answer: Answer): Buffer {
  if (!Number.isInteger(answer.code) || answer.code < 0 || answer.code > 255) {
    throw new SignstarError(`exit code ${answer.code} is not a byte`, ExitCode.Internal);
  }
  const parts: Buffer[] = [];
  if (answer.stdout !== undefined && answer.stdout.length > 0) {
    parts.push(frame("O", typeof answer.stdout === "string" ? Buffer.from(answer.stdout, "utf8") : answer.stdout));
  }
  if (answer.stderr !== undefined && answer.stderr.length > 0) {
    const line = answer.stderr.endsWith("\n") ? answer.stderr : `${answer.stderr}\n`;
    parts.push(frame("E", Buffer.from(line, "utf8")));
  }
  parts.push(frame("X", Uint8Array.of(answer.code)));
  return Buffer.concat(parts);
}

/** Reads an answer back (tests, the Node side of a future forwarder); undefined while incomplete. */
export function decodeAnswer(bytes: Uint8Array): { stdout: Buffer; stderr: string; code: number } | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const stdout: Buffer[] = [];
  let stderr = "";
  let at = 0;
  while (at + 5 <= buf.length) {
    const type = String.fromCharCode(buf[at]!);
    const length = buf.readUInt32BE(at + 1);
    if (length > MAX_FRAME_BYTES) throw new SignstarError(`oversized ${type} frame`, ExitCode.Internal);
    if (at + 5 + length > buf.length) return undefined;
    const payload = buf.subarray(at + 5, at + 5 + length);
    at += 5 + length;
    if (type === "O") stdout.push(payload);
    else if (type === "E") stderr += payload.toString("utf8");
    else if (type === "X" && length === 1) return { stdout: Buffer.concat(stdout), stderr, code: payload[0]! };
    else throw new SignstarError(`unknown frame type ${JSON.stringify(type)}`, ExitCode.Internal);
  }
  return undefined;
}
