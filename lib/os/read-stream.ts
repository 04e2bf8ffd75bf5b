/**
 * Reads a whole stream into memory with a size bound and a deadline, so a client can neither exhaust memory
 * nor keep a ForceCommand process alive forever.
 */
import type { Readable } from "node:stream";
import { InputError } from "../errors.js";

export interface BoundedStream {
  /** Names the input in errors ("the signing request"). */
  readonly what: string;
  readonly maxBytes: number;
  /** Deadline for the whole input. */
  readonly timeoutMs: number;
  /** Ends early with "<what> upload was interrupted". */
  readonly signal?: AbortSignal;
}

/** Lets a chunk consumer end the stream early, or ask whether it has ended. */
export interface StreamControl {
  stop(error: Error): void;
  readonly done: boolean;
}

/**
 * Feeds `input` chunk by chunk to `onChunk` until it ends (resolves undefined) or fails (resolves the error,
 * after destroying `input`): more than maxBytes in all, a read error, the deadline, `signal`, or stop().
 * Settles exactly once; every listener and the timer are gone by then.
 */
export function streamBounded(input: Readable, opts: BoundedStream, onChunk: (bytes: Buffer, control: StreamControl) => void): Promise<Error | undefined> {
  const { what, maxBytes, timeoutMs, signal } = opts;
  return new Promise<Error | undefined>((resolve) => {
    let size = 0;
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
      if (error) input.destroy();
      resolve(error);
    };
    const control: StreamControl = {
      stop: finish,
      get done() {
        return done;
      },
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > maxBytes) finish(new InputError(`${what} is larger than ${maxBytes} bytes`));
      else onChunk(bytes, control);
    };
    const onEnd = (): void => finish();
    const onError = (e: Error): void => finish(new InputError(`cannot read ${what}: ${e.message}`));
    const onAbort = (): void => finish(new InputError(`${what} upload was interrupted`));
    const timer = setTimeout(() => finish(new InputError(`${what} did not arrive completely within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort);
    input.on("data", onData);
    input.on("end", onEnd);
    input.on("error", onError);
  });
}

export async function readBounded(input: Readable, what: string, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const error = await streamBounded(input, { what, maxBytes, timeoutMs }, (bytes) => {
    chunks.push(bytes);
    size += bytes.length;
  });
  if (error) throw error;
  return Buffer.concat(chunks, size);
}
