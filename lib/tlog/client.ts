/**
 * The signing side of the log: `SigningLog` (reserve, commit, release over the log writer's socket, protocol.ts)
 * and `logSignature`, the order every signing path follows: reserve an index → sign with the log notation
 * (origin and index in the signature's hashed area) → commit the entry with the signature packet's hash → only
 * then hand the signature out. Any failure on the way fails closed: no signature is returned without its entry.
 */
import { createConnection, type Socket } from "node:net";
import { LogError } from "./errors.js";
import { sha256 } from "./merkle.js";
import { MAX_LINE_BYTES, type LogAnswer } from "./protocol.js";

/** The notation that binds a signature to its log entry: value `<origin> <index>`. */
export const LOG_NOTATION = "signstar-log@archlinux.org";

export interface LogReservation {
  readonly index: number;
  readonly origin: string;
}

export interface CommitFields {
  /** OpenPGP fingerprint, lowercase hex. */
  readonly key: string;
  /** SHA-512 of the signed data, lowercase hex. */
  readonly digest: string;
  /** Signature creation time, Unix seconds. */
  readonly created: number;
  /** SHA-256 of the signature packet, lowercase hex. */
  readonly packet: string;
}

export interface SigningLog {
  reserve(): Promise<LogReservation>;
  /** Resolves once the entry is durable in the log. */
  commit(index: number, fields: CommitFields): Promise<void>;
  release(index: number): Promise<void>;
  close(): void;
}

/** Connects to the log writer at `socketPath`; every answer must arrive within `timeoutMs` (default 10 s). */
export async function connectSigningLog(socketPath: string, opts: { readonly timeoutMs?: number } = {}): Promise<SigningLog> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = createConnection({ path: socketPath });
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", (e) => reject(new LogError(`cannot reach the log writer at ${socketPath}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, undefined, { cause: e })));
  });
  let buffer = "";
  const waiting: { resolve: (a: LogAnswer) => void; reject: (e: unknown) => void }[] = [];
  let broken: LogError | undefined;
  const fail = (why: string): void => {
    broken ??= new LogError(`the log writer connection failed: ${why}`);
    for (const w of waiting.splice(0)) w.reject(broken);
    socket.destroy();
  };
  socket.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    if (buffer.length > MAX_LINE_BYTES && !buffer.includes("\n")) return fail("answer too long");
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let a: LogAnswer;
      try {
        a = JSON.parse(line) as LogAnswer;
      } catch {
        return fail("malformed answer");
      }
      waiting.shift()?.resolve(a);
    }
  });
  socket.on("error", (e) => fail((e as NodeJS.ErrnoException).code ?? e.message));
  socket.on("close", () => fail("closed"));
  const ask = (req: object): Promise<LogAnswer & { ok: true }> => {
    if (broken) return Promise.reject(broken);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
      waiting.push({
        resolve: (a) => {
          clearTimeout(timer);
          if (a.ok === true) resolve(a);
          else reject(new LogError(`the log writer refused: ${typeof a.error === "string" ? a.error.slice(0, 300) : "?"}`));
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      socket.write(`${JSON.stringify(req)}\n`);
    });
  };
  return {
    async reserve() {
      const a = await ask({ op: "reserve" });
      if (typeof a.index !== "number" || typeof a.origin !== "string") throw new LogError("the log writer gave no index");
      return { index: a.index, origin: a.origin };
    },
    async commit(index, f) {
      await ask({ op: "commit", index, key: f.key, digest: f.digest, created: f.created, packet: f.packet });
    },
    async release(index) {
      await ask({ op: "release", index });
    },
    close() {
      broken ??= new LogError("the log writer connection is closed");
      socket.end();
    },
  };
}

export interface LoggedSignature {
  readonly packet: Uint8Array;
  readonly index: number;
  readonly origin: string;
}

/**
 * Reserve → `sign(notation)` → commit → return: `sign` gets the notation to put in the signature's hashed area and
 * returns the signature packet with the entry's fields. The signature is returned only once its entry is durable;
 * if signing fails the reservation is released (a void entry), if committing fails nothing is returned.
 */
export async function logSignature(
  log: SigningLog,
  sign: (notation: { readonly name: string; readonly value: string }) => Promise<{ readonly packet: Uint8Array; readonly key: string; readonly digest: string; readonly created: number }>,
  expectedOrigin?: string,
): Promise<LoggedSignature> {
  const { index, origin } = await log.reserve();
  if (expectedOrigin !== undefined && origin !== expectedOrigin) {
    await log.release(index).catch(() => undefined);
    throw new LogError(`the log writer keeps the log ${JSON.stringify(origin)}, but the configuration names ${JSON.stringify(expectedOrigin)}`);
  }
  let signed;
  try {
    signed = await sign({ name: LOG_NOTATION, value: `${origin} ${index}` });
  } catch (error) {
    await log.release(index).catch(() => undefined);
    throw error;
  }
  await log.commit(index, { key: signed.key, digest: signed.digest, created: signed.created, packet: Buffer.from(sha256(signed.packet)).toString("hex") });
  return { packet: signed.packet, index, origin };
}
