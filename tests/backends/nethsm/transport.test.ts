/** TLS modes, certificate pinning, failover (connection errors only), timeouts, bounded bodies, keep-alive. */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer as createHttpsServer, type Server } from "node:https";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetHsmClient, NetHsmConnectionError, NetHsmError, NetHsmHttpError, NetHsmTimeoutError } from "../../../lib/backends/nethsm/index.js";
import { startStandIn, type StandIn } from "../../support/nethsm-standin/index.js";
import { ADMIN, connection, errorOf, startHarness, UNLOCK, type Harness } from "./harness.js";

let h: Harness;
let unprovisioned: StandIn;
let silent: TlsServer;
let silentUrl: string;
let huge: Server;
let hugeUrl: string;
let deadUrl: string;
let deadPortHolder: ChildProcess | undefined;
const sockets: { destroy(): void }[] = [];

/**
 * A TCP port that refuses every connection for as long as the returned process lives: a socket bound to it that
 * never listens (Node cannot bind without listening, so a tiny python3 helper does; no SO_REUSEADDR, so nobody
 * else can take the port meanwhile). Connecting gets ECONNREFUSED.
 */
async function refusingPort(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn("python3", ["-c", "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(Number(out.trim()));
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`the port holder (python3) exited with ${code} before binding`)));
  });
  return { port, child };
}

beforeAll(async () => {
  h = await startHarness();
  await h.client().provision({ unlockPassphrase: UNLOCK, adminPassphrase: ADMIN, systemTime: new Date() });
  unprovisioned = await startStandIn({ tls: h.standIn.tls });
  silent = createTlsServer({ key: h.standIn.tls.key, cert: h.standIn.tls.cert }, (s) => sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
  silentUrl = `https://127.0.0.1:${(silent.address() as AddressInfo).port}/api/v1`;
  huge = createHttpsServer({ key: h.standIn.tls.key, cert: h.standIn.tls.cert }, (_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(Buffer.alloc(2 * 1024 * 1024, 0x20));
  });
  await new Promise<void>((r) => huge.listen(0, "127.0.0.1", () => r()));
  hugeUrl = `https://127.0.0.1:${(huge.address() as AddressInfo).port}/api/v1`;
  const dead = await refusingPort();
  deadPortHolder = dead.child;
  deadUrl = `https://127.0.0.1:${dead.port}/api/v1`;
});

afterAll(async () => {
  deadPortHolder?.kill("SIGKILL");
  await h.close();
  await unprovisioned.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
  huge.closeAllConnections();
  await new Promise<void>((r) => huge.close(() => r()));
  expect(h.rec.problems).toEqual([]);
  expect(h.rec.unconsumed).toEqual([]);
});

const pin = (url: string, fp: string) => connection(url, { kind: "Fingerprints", sha256: [fp] });

describe("TLS modes", () => {
  it("Unsafe accepts the self-signed certificate", async () => {
    const c = h.client(undefined, [connection(h.standIn.url, { kind: "Unsafe" })]);
    expect(await c.state()).toBe("Operational");
  });

  it("Native refuses a self-signed certificate and accepts it once trusted", async () => {
    const native = connection(h.standIn.url, { kind: "Native" });
    const err = await errorOf(() => h.client(undefined, [native]).state());
    expect(err).toBeInstanceOf(NetHsmConnectionError);
    expect(err.message).toMatch(new RegExp(`^NetHSM ${h.standIn.url.replace(/[.]/g, "\\.")}: connection failed: .*self[- ]signed certificate`));
    const trusted = new NetHsmClient({ connections: [native], extraCa: [h.standIn.tls.cert] });
    try {
      expect(await trusted.state()).toBe("Operational");
    } finally {
      trusted.close();
    }
  });

  it("pinned fingerprints: accepts a match (any notation), refuses a mismatch before sending credentials", async () => {
    const colons = h.standIn.tls.fingerprint.toUpperCase().match(/../g)!.join(":");
    expect(await h.client({ user: "admin", passphrase: ADMIN }, [pin(h.standIn.url, colons)]).listUsers()).toEqual(["admin"]);
    const before = Number(h.standIn.device.counters.get("http response total"));
    const wrong = "00".repeat(32);
    const err = await errorOf(() => h.client({ user: "admin", passphrase: ADMIN }, [pin(h.standIn.url, wrong)]).listUsers());
    expect(err).toBeInstanceOf(NetHsmConnectionError);
    expect(err.message).toBe(`NetHSM ${h.standIn.url}: connection failed: server certificate sha256 ${h.standIn.tls.fingerprint} matches no configured fingerprint`);
    expect(Number(h.standIn.device.counters.get("http response total"))).toBe(before);
  });
});

describe("failover", () => {
  it("moves on from a refused connection and a pin mismatch to the next connection", async () => {
    const c = h.client({ user: "admin", passphrase: ADMIN }, [
      pin(deadUrl, h.standIn.tls.fingerprint),
      pin(h.standIn.url, "11".repeat(32)),
      h.pinned,
    ]);
    expect(await c.listUsers()).toEqual(["admin"]);
    expect(c.transport.currentUrl).toBe(h.pinned.url);
  });

  it("a pin mismatch that fails over is reported, never silent (issue 17.8)", async () => {
    const seen: string[] = [];
    const c = new NetHsmClient({
      connections: [pin(h.standIn.url, "11".repeat(32)), h.pinned],
      credentials: { user: "admin", passphrase: ADMIN },
      onPinMismatch: (url, message) => seen.push(`${url} ${message}`),
    });
    try {
      expect(await c.listUsers()).toEqual(["admin"]);
    } finally {
      c.close();
    }
    expect(seen).toEqual([`${h.standIn.url} connection failed: server certificate sha256 ${h.standIn.tls.fingerprint} matches no configured fingerprint`]);
  });

  it("the connection URL may name the API base or only the host (/api/v1 is appended) (issue 12.12)", async () => {
    const bare = h.standIn.url.replace(/\/api\/v1$/, "/");
    expect(bare).not.toContain("/api/v1");
    expect(await h.client(undefined, [pin(bare, h.standIn.tls.fingerprint)]).state()).toBe("Operational");
    expect(await h.client(undefined, [pin(`${h.standIn.url}/`, h.standIn.tls.fingerprint)]).state()).toBe("Operational");
  });

  it("never fails over on an HTTP error status", async () => {
    const other = pin(unprovisioned.url, h.standIn.tls.fingerprint);
    const c = h.client({ user: "admin", passphrase: ADMIN }, [other, h.pinned]);
    const err = await errorOf(() => c.listUsers());
    expect((err as NetHsmHttpError).status).toBe(412);
    expect(err.message).toContain(`NetHSM ${unprovisioned.url} as admin: GET /users: 412`);
  });

  it("fails over when the TLS session does not come up in time; a silent server after the handshake is a timeout", async () => {
    // The silent TLS server completes the handshake, so this is a response timeout, not a connect failure. The
    // response deadline also bounds the handshake (the transport caps the connect timeout at it), so it is short
    // for the test but far above what a local TLS handshake takes even on a loaded machine.
    const c = new NetHsmClient({ connections: [pin(silentUrl, h.standIn.tls.fingerprint), h.pinned], connectTimeoutMs: 5000, timeoutMs: 2000 });
    try {
      const err = await errorOf(() => c.state());
      expect(err).toBeInstanceOf(NetHsmTimeoutError);
      expect(err.message).toBe(`NetHSM ${silentUrl}: GET /health/state: no answer within 2000 ms`);
    } finally {
      c.close();
    }
    const raw = createNetServer((s) => sockets.push(s)); // accepts TCP, never speaks TLS
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", () => r()));
    const rawUrl = `https://127.0.0.1:${(raw.address() as AddressInfo).port}/api/v1`;
    try {
      // Only this server is meant to time out: it never answers the ClientHello, whatever the connect timeout.
      const alone = new NetHsmClient({ connections: [connection(rawUrl, { kind: "Unsafe" })], connectTimeoutMs: 300 });
      try {
        const err = await errorOf(() => alone.state());
        expect(err).toBeInstanceOf(NetHsmConnectionError);
        expect(err.message).toBe(`NetHSM ${rawUrl}: connection failed: no TLS session within 300 ms`);
      } finally {
        alone.close();
      }
      // With a failover target the connect timeout must also cover the target's real handshake: 2 s.
      const c2 = new NetHsmClient({ connections: [connection(rawUrl, { kind: "Unsafe" }), h.pinned], connectTimeoutMs: 2000 });
      try {
        expect(await c2.state()).toBe("Operational");
        expect(c2.transport.currentUrl).toBe(h.pinned.url);
      } finally {
        c2.close();
      }
    } finally {
      raw.close();
    }
  });

  it("reports every connection when all fail", async () => {
    const c = h.client(undefined, [connection(deadUrl, { kind: "Unsafe" }), pin(h.standIn.url, "22".repeat(32))]);
    const err = await errorOf(() => c.state());
    expect(err).toBeInstanceOf(NetHsmError);
    expect(err.message).toMatch(/^all 2 NetHSM connections failed: NetHSM .*ECONNREFUSED.*; NetHSM .*matches no configured fingerprint$/);
  });
});

describe("bounds and keep-alive", () => {
  it("refuses responses over the size bound", async () => {
    const c = new NetHsmClient({ connections: [connection(hugeUrl, { kind: "Unsafe" })] });
    try {
      const err = await errorOf(() => c.state());
      expect(err.message).toBe(`NetHSM ${hugeUrl}: GET /health/state: response larger than 1048576 bytes`);
    } finally {
      c.close();
    }
  });

  it("retries once on a fresh connection when the server drops a reused keep-alive socket", async () => {
    const perSocket = new WeakMap<object, number>();
    let answered = 0;
    const flaky = createHttpsServer({ key: h.standIn.tls.key, cert: h.standIn.tls.cert, keepAliveTimeout: 60_000 }, (req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (n === 2) {
        req.socket.destroy(); // a stale socket: closed before answering
        return;
      }
      answered++;
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end('{"state":"Operational"}');
    });
    await new Promise<void>((r) => flaky.listen(0, "127.0.0.1", () => r()));
    const url = `https://127.0.0.1:${(flaky.address() as AddressInfo).port}/api/v1`;
    const c = new NetHsmClient({ connections: [pin(url, h.standIn.tls.fingerprint)] });
    try {
      expect(await c.state()).toBe("Operational");
      expect(await c.state()).toBe("Operational"); // 2nd request on the same socket is dropped, then retried
      expect(answered).toBe(2);
    } finally {
      c.close();
      flaky.closeAllConnections();
      await new Promise<void>((r) => flaky.close(() => r()));
    }
  });

  it("reuses one TLS connection with keep-alive and opens one per request without", async () => {
    const admin = { user: "admin", passphrase: ADMIN };
    const before = h.standIn.connections();
    const ka = new NetHsmClient({ connections: [h.pinned], credentials: admin });
    for (let i = 0; i < 10; i++) await ka.listUsers();
    ka.close();
    expect(h.standIn.connections() - before).toBe(1);
    const mid = h.standIn.connections();
    const nka = new NetHsmClient({ connections: [h.pinned], credentials: admin, keepAlive: false });
    for (let i = 0; i < 10; i++) await nka.listUsers();
    nka.close();
    expect(h.standIn.connections() - mid).toBe(10);
  });
});
