/**
 * The request loop of a resident signer: one request per connection, at most `limits.concurrent` handled at once
 * and `limits.queued` waiting; beyond that a connection gets the one-line refusal at once (no connection is
 * held open for nothing). Each request is handled on its own: whatever `handle` throws or returns is that
 * connection's answer only. When nothing has been connected for `idleTimeoutMs`, the server closes and the
 * returned promise resolves (socket activation starts the signer again on the next connection).
 */
import type { Server, Socket } from "node:net";
import { PassThrough, type Readable } from "node:stream";
import { SIGNING_LIMITS } from "../config/primitives.js";
import { encodeAnswer, type Answer } from "./frames.js";

export interface SignerLimits {
  /** Requests handled at the same time. */
  readonly concurrent: number;
  /** Requests waiting for a free place; more are refused. */
  readonly queued: number;
}

export interface Connection {
  /** The connection itself (for its peer credentials); write nothing to it, return an Answer. */
  readonly socket: Socket;
  /** The request bytes; destroying this stream (a bound was exceeded) leaves the socket open for the answer. */
  readonly input: Readable;
}

export interface ServeOptions {
  /** Listening already (lib/signer/listen.ts). */
  readonly server: Server;
  readonly limits: SignerLimits;
  readonly idleTimeoutMs: number;
  readonly handle: (connection: Connection) => Promise<Answer>;
  /** The answer for a connection beyond the limits. */
  readonly refuse: () => Answer;
  /** Called with an error `handle` threw (a bug: handle should answer); the connection gets `internal`. */
  readonly internal: (error: unknown) => Answer;
}

export interface Serving {
  /** Resolves when the server closed (idle, or close()) and every started request is answered. */
  readonly done: Promise<void>;
  /** Stops accepting; requests already accepted are still answered. */
  close(): void;
  /** Requests being handled and waiting, for tests and the watchdog. */
  readonly load: () => { active: number; queued: number };
}

export function serveRequests(opts: ServeOptions): Serving {
  const { server, limits } = opts;
  let active = 0;
  const waiting: Socket[] = [];
  let idle: NodeJS.Timeout | undefined;
  let closing = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  const settle = (): void => {
    if (active > 0 || waiting.length > 0) return;
    if (closing) {
      resolveDone();
      return;
    }
    clearTimeout(idle);
    idle = setTimeout(close, opts.idleTimeoutMs);
  };
  const close = (): void => {
    if (closing) return;
    closing = true;
    clearTimeout(idle);
    server.close();
    settle();
  };

  const answer = (socket: Socket, reply: Answer): void => {
    if (socket.destroyed) return;
    socket.end(encodeAnswer(reply));
  };

  const start = (socket: Socket): void => {
    active++;
    const input = new PassThrough();
    socket.pipe(input);
    void (async () => {
      let reply: Answer;
      try {
        reply = await opts.handle({ socket, input });
      } catch (error) {
        reply = opts.internal(error);
      }
      socket.unpipe(input);
      answer(socket, reply);
    })().finally(() => {
      active--;
      const next = waiting.shift();
      if (next) start(next);
      else settle();
    });
  };

  server.on("connection", (socket: Socket) => {
    clearTimeout(idle);
    // A client that vanishes only ends its own request.
    socket.on("error", () => socket.destroy());
    if (closing) {
      socket.destroy();
      return;
    }
    if (active < limits.concurrent) start(socket);
    else if (waiting.length < limits.queued) {
      waiting.push(socket);
      socket.once("close", () => {
        const i = waiting.indexOf(socket);
        if (i >= 0) {
          waiting.splice(i, 1);
          settle();
        }
      });
    } else answer(socket, opts.refuse());
  });
  settle();
  return { done, close, load: () => ({ active, queued: waiting.length }) };
}

/** The per-user limits when the configuration sets none ([system] signing_concurrency, signing_queue). */
export const DEFAULT_SIGNER_LIMITS: SignerLimits = { concurrent: SIGNING_LIMITS.concurrency.default, queued: SIGNING_LIMITS.queue.default };

/**
 * SIGNSTAR_SIGNER_CONCURRENT / SIGNSTAR_SIGNER_QUEUED (set by the unit's drop-in and by sshd SetEnv, from the
 * configuration), each an integer within SIGNING_LIMITS (concurrent 1..1024, queued 0..1024); anything else
 * keeps the default, as the forwarder does.
 */
export function limitsFromEnv(env: NodeJS.ProcessEnv, defaults: SignerLimits = DEFAULT_SIGNER_LIMITS): SignerLimits {
  const read = (name: string, bounds: { readonly min: number; readonly max: number }, fallback: number): number => {
    const text = env[name];
    if (text === undefined || !/^[0-9]{1,4}$/.test(text)) return fallback;
    const n = Number(text);
    return n >= bounds.min && n <= bounds.max ? n : fallback;
  };
  return {
    concurrent: read("SIGNSTAR_SIGNER_CONCURRENT", SIGNING_LIMITS.concurrency, defaults.concurrent),
    queued: read("SIGNSTAR_SIGNER_QUEUED", SIGNING_LIMITS.queue, defaults.queued),
  };
}
