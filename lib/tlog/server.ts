/**
 * The log writer's side of the socket (protocol.ts): every connection is checked with SO_PEERCRED and refused
 * unless the kernel-reported uid is a signing user's (`userOf`); entries are committed under that user's name,
 * never one the client claims. Bounded: one line at most 4 KiB, at most 64 reservations per connection, idle
 * connections closed after `idleMs`; reservations a connection leaves behind are released when it closes.
 */
import type { Server, Socket } from "node:net";
import { peerCredentials } from "../os/unix-socket.js";
import { oneLine } from "../errors.js";
import { MAX_LINE_BYTES, parseRequest, type LogAnswer, type LogRequest } from "./protocol.js";
import type { LogWriter } from "./writer.js";

export interface LogServiceOptions {
  /** The signing user's name for a peer uid, or undefined to refuse the peer (may look it up). */
  readonly userOf: (uid: number) => string | undefined | Promise<string | undefined>;
  /** Close a connection idle this long (default 60 s). */
  readonly idleMs?: number;
  /** Told about each refused connection (for the system log). */
  readonly onRefused?: (uid: number) => void;
}

const MAX_RESERVATIONS_PER_CONNECTION = 64;

export function serveLog(server: Server, writer: LogWriter, opts: LogServiceOptions): void {
  server.on("connection", (socket: Socket) => {
    let uid: number;
    try {
      uid = peerCredentials(socket).uid;
    } catch {
      socket.destroy();
      return;
    }
    // Until the user is known no data listener is attached, so the socket stays paused and nothing is lost.
    void Promise.resolve()
      .then(() => opts.userOf(uid))
      .then(
        (user) => {
          if (user === undefined) {
            opts.onRefused?.(uid);
            // Read and drop what the peer sends (so its end is seen), and give it a moment to read the refusal.
            socket.resume();
            socket.setTimeout(1000, () => socket.destroy());
            socket.end(`${JSON.stringify({ ok: false, error: `uid ${uid} is not a signing user` })}\n`);
            return;
          }
          handle(socket, writer, user, opts.idleMs ?? 60_000);
        },
        () => socket.destroy(),
      );
  });
}

function handle(socket: Socket, writer: LogWriter, user: string, idleMs: number): void {
  const mine = new Set<number>();
  let buffer = "";
  let chain = Promise.resolve();
  socket.setTimeout(idleMs, () => socket.destroy());
  const send = (a: LogAnswer): void => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(a)}\n`);
  };
  const answer = async (req: LogRequest): Promise<LogAnswer> => {
    switch (req.op) {
      case "reserve": {
        if (mine.size >= MAX_RESERVATIONS_PER_CONNECTION) return { ok: false, error: "too many reservations on this connection" };
        const r = writer.reserve(user);
        mine.add(r.index);
        return { ok: true, index: r.index, origin: writer.origin };
      }
      case "release":
        if (mine.delete(req.index)) writer.release(req.index);
        return { ok: true };
      case "commit": {
        if (!mine.has(req.index)) return { ok: false, error: `log index ${req.index} is not reserved on this connection` };
        mine.delete(req.index);
        await writer.commit(req.index, { kind: "signature", key: req.key, digest: req.digest, created: req.created, user, packet: req.packet });
        return { ok: true, size: writer.size };
      }
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    if (buffer.length > MAX_LINE_BYTES && !buffer.slice(0, MAX_LINE_BYTES + 1).includes("\n")) {
      send({ ok: false, error: `request line longer than ${MAX_LINE_BYTES} bytes` });
      socket.destroy();
      return;
    }
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      // Answers go out in request order; a commit's answer waits for durability, later requests wait behind it.
      chain = chain.then(async () => {
        try {
          send(await answer(parseRequest(line)));
        } catch (error) {
          send({ ok: false, error: oneLine(error instanceof Error ? error.message : String(error)) });
        }
      });
    }
  });
  socket.on("close", () => {
    for (const index of mine) writer.release(index);
    mine.clear();
  });
  socket.on("error", () => socket.destroy());
}
