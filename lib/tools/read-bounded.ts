/**
 * Reads a whole stream into memory with a size bound and a deadline, so a client can neither exhaust memory
 * nor keep a ForceCommand process alive forever.
 */
import type { Readable } from "node:stream";
import { ExitCode, SignstarError } from "../errors.js";

export class InputError extends SignstarError {
  constructor(message: string) {
    super(message, ExitCode.BadInput);
  }
}

export function readBounded(input: Readable, what: string, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error: Error | undefined, value?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("error", onError);
      if (error) {
        input.destroy();
        reject(error);
      } else resolve(value!);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > maxBytes) finish(new InputError(`${what} is larger than ${maxBytes} bytes`));
      else chunks.push(bytes);
    };
    const onEnd = () => finish(undefined, Buffer.concat(chunks, size));
    const onError = (e: Error) => finish(new InputError(`cannot read ${what}: ${e.message}`));
    const timer = setTimeout(
      () => finish(new InputError(`${what} did not arrive completely within ${Math.round(timeoutMs / 1000)} s`)),
      timeoutMs,
    );
    input.on("data", onData);
    input.on("end", onEnd);
    input.on("error", onError);
  });
}
