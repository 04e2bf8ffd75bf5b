/**
 * The NetHSM stand-in's HTTPS server: webmachine decision order (412 state gate before auth, 405, 401/429,
 * 403, 415, 413, 406, then the handler), device error bodies, the 1 s rate limit after failed logins, metrics.
 */
import type { KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { ScryptParams } from "../../../lib/nethsm-backup/index.js";
import { selfSignedCertificate, type TlsMaterial } from "./cert.js";
import { Device } from "./device.js";
import { HttpErr, parseBasicAuth, parseUserId } from "./http.js";
import { ROUTES, type AuthSpec, type Caller, type Ctx, type Method, type Op, type Reply } from "./routes.js";

export interface Exchange {
  readonly method: string;
  /** Path below /api/v1, without the query. */
  readonly path: string;
  readonly query: string;
  readonly requestContentType: string;
  readonly requestBody: Buffer;
  readonly status: number;
  readonly responseContentType: string;
  readonly responseBody: Buffer;
}

export interface StandInOptions {
  readonly port?: number;
  readonly host?: string;
  /** Rate limit window after a failed login; default 1000 ms (0 disables). */
  readonly rateLimitMs?: number;
  /**
   * Clock of the rate limiter in milliseconds (default Date.now). Tests pass their own to move time explicitly
   * instead of sleeping through the window.
   */
  readonly now?: () => number;
  readonly scrypt?: ScryptParams;
  /** Public key that signs update images (RSA PKCS#1 v1.5 over SHA-256). */
  readonly updateKey?: KeyObject;
  /** Observes every exchange (tests: OpenAPI validation of responses). */
  readonly onExchange?: (e: Exchange) => void;
  readonly tls?: TlsMaterial;
  /**
   * The device state of an earlier stand-in (users, keys, unlock state): with its `tls` and `port`, a new stand-in
   * is that NetHSM after a restart (the earlier one closed, its connections gone).
   */
  readonly device?: Device;
}

export interface StandIn {
  /** Base URL, e.g. https://127.0.0.1:8443/api/v1 */
  readonly url: string;
  readonly port: number;
  readonly tls: TlsMaterial;
  readonly device: Device;
  /** TLS connections accepted so far (keep-alive checks). */
  connections(): number;
  close(): Promise<void>;
}

const PREFIX = "/api/v1";
const DEFAULT_MAX_BODY = 1024 * 1024;
const HARD_MAX_BODY = 512 * 1024 * 1024;
const METHODS: readonly string[] = ["GET", "POST", "PUT", "DELETE"];

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too-large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on("end", () => resolve(over ? "too-large" : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function acceptable(accept: string | undefined, produces: string | undefined): boolean {
  if (!accept || !produces) return true;
  return accept.split(",").some((a) => {
    const t = a.split(";")[0]!.trim().toLowerCase();
    return t === "*/*" || t === produces || t === `${produces.split("/")[0]}/*`;
  });
}

export async function startStandIn(opts: StandInOptions = {}): Promise<StandIn> {
  const tls = opts.tls ?? selfSignedCertificate();
  const device = opts.device ?? new Device({ ...(opts.scrypt ? { scrypt: opts.scrypt } : {}) });
  const rateLimitMs = opts.rateLimitMs ?? 1000;
  const now = opts.now ?? Date.now;
  const failures = new Map<string, number>();
  let baseUrl = "";

  const limited = (key: string): boolean => {
    const t = failures.get(key);
    if (t === undefined) return false;
    if (now() - t < rateLimitMs) return true;
    failures.delete(key);
    return false;
  };

  async function authenticate(req: IncomingMessage, ip: string, op: Op): Promise<Caller | undefined> {
    const spec: AuthSpec = typeof op.auth === "function" ? op.auth(device.state) : op.auth;
    if (spec === "public") return undefined;
    const auth = parseBasicAuth(req.headers.authorization);
    if (auth === "none" || auth === "malformed") {
      throw new HttpErr(401, undefined, { "WWW-Authenticate": 'Basic realm="NetHSM"' });
    }
    const key = `${ip}|${auth.user}`;
    if (rateLimitMs > 0 && limited(key)) throw new HttpErr(429, "Too many requests");
    const user = device.users.get(auth.user);
    if (!user || !Device.checkPassphrase(user, auth.passphrase)) {
      if (rateLimitMs > 0) failures.set(key, now());
      throw new HttpErr(401, undefined, { "WWW-Authenticate": 'Basic realm="invalid authorization"' });
    }
    const ref = parseUserId(auth.user);
    const caller: Caller = { id: auth.user, namespace: ref.namespace, user };
    if (ref.namespace !== undefined && !device.namespaces.has(ref.namespace)) throw new HttpErr(403);
    if (!spec.roles.includes(user.role)) throw new HttpErr(403);
    if (spec.rootOnly && ref.namespace !== undefined) throw new HttpErr(403);
    return caller;
  }

  async function dispatch(req: IncomingMessage, path: string, query: URLSearchParams, ip: string): Promise<{ reply: Reply; body: Buffer }> {
    let body: Buffer = Buffer.alloc(0);
    const route = ROUTES.find((r) => r.pattern.test(path));
    if (!route) {
      body = (await readBody(req, HARD_MAX_BODY)) as Buffer;
      return { reply: { status: 404, body: "Not found", contentType: "text/plain" }, body };
    }
    const method = req.method ?? "GET";
    const op: Op | undefined = (route.methods as Record<string, Op | undefined>)[method];
    const raw = await readBody(req, op?.maxBody ?? DEFAULT_MAX_BODY);
    if (raw !== "too-large") body = raw;
    try {
      if (!METHODS.includes(method)) throw new HttpErr(501);
      // 1. state gate (for the route: any of its methods' states)
      const states = op ? op.states : Object.values(route.methods).flatMap((o) => o.states);
      if (!states.includes(device.state)) throw new HttpErr(412, "Service not available");
      // 4. method not allowed
      if (!op) throw new HttpErr(405, undefined, { Allow: Object.keys(route.methods).join(", ") });
      // 6–7. authentication, role and namespace
      const caller = await authenticate(req, ip, op);
      // 8. content type
      const contentType = String(req.headers["content-type"] ?? "");
      if (op.accepts) {
        const base = contentType.split(";")[0]!.trim().toLowerCase();
        if (!op.accepts.includes(base) && !(base === "" && body.length === 0 && op.accepts.includes(""))) throw new HttpErr(415);
      }
      // 9. body size
      if (raw === "too-large") throw new HttpErr(413);
      // 10. Accept
      if (!acceptable(req.headers.accept, op.produces)) throw new HttpErr(406);
      const params: Record<string, string> = {};
      const m = route.pattern.exec(path)!;
      route.params.forEach((p, i) => (params[p] = decodeURIComponent(m[i + 1]!)));
      const ctx: Ctx = { dev: device, params, query, body, contentType, caller, baseUrl, updateKey: opts.updateKey };
      // /unlock has its own per-IP bucket (pseudo-user _unlock): a failure or malformed body blocks it for 1 s.
      const unlockKey = path === "/unlock" ? `${ip}|_unlock` : undefined;
      if (unlockKey && rateLimitMs > 0 && limited(unlockKey)) throw new HttpErr(429, "Service unavailable: too many requests");
      try {
        return { reply: await op.handler(ctx), body };
      } catch (e) {
        if (unlockKey && rateLimitMs > 0 && e instanceof HttpErr && (e.status === 403 || e.status === 400)) failures.set(unlockKey, now());
        throw e;
      }
    } catch (e) {
      if (e instanceof HttpErr) {
        const reply: Reply = e.body !== undefined
          ? { status: e.status, json: { message: e.body }, headers: e.headers }
          : { status: e.status, headers: e.headers };
        return { reply, body };
      }
      return { reply: { status: 500, json: { message: `internal error: ${(e as Error).message}` } }, body };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? "/", "https://standin");
    const ip = req.socket.remoteAddress ?? "";
    let path = url.pathname;
    let result: { reply: Reply; body: Buffer };
    if ((req.url ?? "").length > 2000) result = { reply: { status: 414 }, body: Buffer.alloc(0) };
    else if (!path.startsWith(`${PREFIX}/`)) result = { reply: { status: 404, body: "Not found", contentType: "text/plain" }, body: Buffer.alloc(0) };
    else {
      path = path.slice(PREFIX.length);
      result = await dispatch(req, path, url.searchParams, ip);
    }
    const { reply, body: requestBody } = result;
    let payload: Buffer = Buffer.alloc(0);
    let contentType = reply.contentType ?? "";
    if (reply.json !== undefined) {
      payload = Buffer.from(JSON.stringify(reply.json));
      contentType = "application/json";
    } else if (reply.body !== undefined) {
      payload = Buffer.isBuffer(reply.body) ? reply.body : Buffer.from(reply.body);
    }
    if (reply.status === 204 || reply.status === 304) payload = Buffer.alloc(0);
    const headers: Record<string, string> = { ...(reply.headers ?? {}), "Cache-Control": "no-cache" };
    if (payload.length > 0 && contentType) headers["Content-Type"] = contentType;
    device.count(`http response ${reply.status}`);
    device.count("http response total");
    device.count("http response time", Number(process.hrtime.bigint() - started) / 1e9);
    res.writeHead(reply.status, headers);
    res.end(payload);
    opts.onExchange?.({
      method: req.method ?? "",
      path,
      query: url.search,
      requestContentType: String(req.headers["content-type"] ?? ""),
      requestBody,
      status: reply.status,
      responseContentType: contentType,
      responseBody: payload,
    });
  }

  const server: Server = createServer({ key: tls.key, cert: tls.cert, keepAliveTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ message: `internal error: ${(e as Error).message}` }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  let connections = 0;
  server.on("secureConnection", () => connections++);
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? "127.0.0.1";
  baseUrl = `https://${host.includes(":") ? `[${host}]` : host}:${port}${PREFIX}`;
  return {
    url: baseUrl,
    port,
    tls,
    device,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type { Method };
