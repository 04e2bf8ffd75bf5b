/**
 * A fake signing host for client tests: an ssh2 Server on 127.0.0.1 (random port) that accepts public-key
 * authentication for given keys, and on `exec` reads stdin to EOF and hands it to a handler that decides what to
 * write and how to exit. Records what it saw (commands, PTY/forwarding attempts, inputs).
 */
import { AddressInfo } from "node:net";
import { timingSafeEqual } from "node:crypto";
import ssh2 from "ssh2";
import type { Connection, ServerChannel } from "ssh2";

export type HandlerResult =
  | { readonly stdout?: Uint8Array | string; readonly stderr?: string; readonly exit: number }
  /** Close the channel without an exit status. */
  | { readonly stdout?: Uint8Array | string; readonly stderr?: string; readonly exit: "none" }
  /** Keep the channel open forever (until the client goes away). */
  | { readonly stderr?: string; readonly exit: "hang" };

export type Handler = (input: Buffer, user: string) => HandlerResult | Promise<HandlerResult>;

export interface FakeHostOptions {
  /** OpenSSH private host key. */
  readonly hostKey: string;
  /** user → allowed public key (OpenSSH `type base64` line). */
  readonly users: Readonly<Record<string, string>>;
  readonly handler: Handler;
}

export interface FakeHost {
  readonly port: number;
  readonly commands: string[];
  readonly inputs: Buffer[];
  readonly refusedRequests: string[];
  close(): Promise<void>;
}

export async function startFakeHost(opts: FakeHostOptions): Promise<FakeHost> {
  const commands: string[] = [];
  const inputs: Buffer[] = [];
  const refusedRequests: string[] = [];
  const conns = new Set<Connection>();
  const allowed = new Map<string, ReturnType<typeof ssh2.utils.parseKey>>();
  for (const [user, pub] of Object.entries(opts.users)) allowed.set(user, ssh2.utils.parseKey(pub));

  const server = new ssh2.Server({ hostKeys: [opts.hostKey] }, (client) => {
    conns.add(client);
    let user = "";
    client.on("error", () => undefined);
    client.on("close", () => conns.delete(client));
    client.on("authentication", (ctx) => {
      if (ctx.method !== "publickey") {
        ctx.reject(["publickey"]);
        return;
      }
      const key = allowed.get(ctx.username);
      if (key === undefined || key instanceof Error || Array.isArray(key)) {
        ctx.reject(["publickey"]);
        return;
      }
      const pub = key.getPublicSSH();
      if (ctx.key.algo !== key.type || ctx.key.data.length !== pub.length || !timingSafeEqual(ctx.key.data, pub)) {
        ctx.reject(["publickey"]);
        return;
      }
      if (ctx.signature === undefined) {
        ctx.accept(); // "would you accept this key?" probe
        return;
      }
      if (ctx.blob !== undefined && key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) {
        user = ctx.username;
        ctx.accept();
      } else {
        ctx.reject(["publickey"]);
      }
    });
    client.on("ready", () => {
      client.on("session", (accept) => {
        const session = accept();
        session.on("pty", (_a, reject) => {
          refusedRequests.push("pty");
          reject?.();
        });
        session.on("shell", (_a, reject) => {
          refusedRequests.push("shell");
          reject();
        });
        session.on("exec", (acceptExec, _reject, info) => {
          commands.push(info.command);
          const channel = acceptExec();
          runHandler(channel, user);
        });
      });
      client.on("request", (_a, reject, name) => {
        refusedRequests.push(name);
        reject?.();
      });
    });
  });

  const runHandler = (channel: ServerChannel, user: string): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    channel.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= 1024 * 1024) chunks.push(c);
    });
    channel.on("error", () => undefined);
    channel.on("end", () => {
      const input = Buffer.concat(chunks);
      inputs.push(input);
      void Promise.resolve(opts.handler(input, user)).then((r) => {
        if (r.stderr !== undefined) channel.stderr.write(r.stderr);
        if (r.exit === "hang") return;
        if (r.stdout !== undefined) channel.write(r.stdout);
        if (typeof r.exit === "number") channel.exit(r.exit);
        channel.end();
        channel.close();
      });
    });
  };

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    commands,
    inputs,
    refusedRequests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.end();
        server.close(() => resolve());
      }),
  };
}
