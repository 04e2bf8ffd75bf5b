/**
 * HTTPS transport to one or more NetHSM connections (a cluster or a list of replicas): keep-alive agents,
 * Basic auth, per-request timeouts, bounded response bodies, and failover to the next connection when a
 * connection cannot be established (never after an HTTP response, whatever its status).
 */
import type { IncomingHttpHeaders } from "node:http";
import { request as httpsRequest, type Agent } from "node:https";
import type { TLSSocket } from "node:tls";
import type { NetHsmConnection } from "../../config/model.js";
import { NetHsmConnectionError, NetHsmError, NetHsmTimeoutError } from "./errors.js";
import { createAgent, establishedSockets, PinMismatchError } from "./tls.js";

export interface Credentials {
  readonly user: string;
  readonly passphrase: string;
}

export interface HttpRequest {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path below the base URL, starting with `/`, already percent-encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: { readonly contentType: string; readonly data: Uint8Array };
  readonly accept?: string;
  readonly auth?: Credentials;
  readonly maxResponseBytes?: number;
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The connection that answered. */
  readonly url: string;
}

/** Called for every exchange that got an HTTP response (tests hook OpenAPI validation here). */
export type ExchangeObserver = (req: HttpRequest, res: HttpResponse) => void;

export interface TransportOptions {
  readonly connections: readonly NetHsmConnection[];
  /** Total time for one request on one connection. Default 30 s. */
  readonly timeoutMs?: number;
  /** Default 10 s (Signstar's connect timeout). */
  readonly connectTimeoutMs?: number;
  /** Default true. false opens a new TLS connection per request (benchmarks). */
  readonly keepAlive?: boolean;
  readonly maxSockets?: number;
  /** Default 1 MiB. */
  readonly maxResponseBytes?: number;
  readonly observer?: ExchangeObserver;
  /**
   * Called when a connection presented a certificate that matches no configured fingerprint and the request
   * fails over to the next connection (default: one warning line on stderr). A pin mismatch is a possible
   * attack, never a silent failover.
   */
  readonly onPinMismatch?: (url: string, message: string) => void;
  /** Extra trust anchors for Native mode (tests only). */
  readonly extraCa?: readonly string[];
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * The REST API base of a connection URL: the NetHSM API lives below `/api/v1` (NetHSM OpenAPI, `servers`), so a
 * URL naming only the host (`https://h:8443/`) or a path prefix of a proxy gets it appended; one already ending
 * in `/api/v1` is used as is.
 */
export function apiBase(url: string): URL {
  const base = new URL(url);
  const path = base.pathname.replace(/\/+$/, "");
  base.pathname = path.endsWith("/api/v1") ? path : `${path}/api/v1`;
  return base;
}

class Endpoint {
  readonly agent: Agent;
  readonly base: URL;
  constructor(
    readonly connection: NetHsmConnection,
    opts: TransportOptions,
  ) {
    this.base = apiBase(connection.url);
    this.agent = createAgent(connection.tlsSecurity, {
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxSockets: opts.maxSockets ?? 8,
      keepAlive: opts.keepAlive ?? true,
      ...(opts.extraCa ? { extraCa: opts.extraCa } : {}),
    });
  }
  get url(): string {
    return this.connection.url;
  }
}

interface Attempt {
  /** true when the server may have seen the request (no failover then). */
  readonly connected: boolean;
  /** A reused keep-alive socket was closed by the server before it answered: retry once on the same connection. */
  readonly stale?: boolean;
  /** The server's certificate matched no configured fingerprint. */
  readonly pinMismatch?: boolean;
  readonly error: Error;
}

export class NetHsmTransport {
  private readonly endpoints: Endpoint[];
  private preferred = 0;

  constructor(private readonly opts: TransportOptions) {
    if (opts.connections.length === 0) throw new NetHsmError("no NetHSM connection is configured");
    this.endpoints = opts.connections.map((c) => new Endpoint(c, opts));
  }

  /** The connection URL requests go to first (the last one that worked). */
  get currentUrl(): string {
    return this.endpoints[this.preferred]!.url;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const failures: string[] = [];
    let lastError: Error | undefined;
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.preferred + i) % this.endpoints.length;
      const ep = this.endpoints[index]!;
      let result = await this.once(ep, req);
      if ("error" in result && result.stale) result = await this.once(ep, req);
      if (!("error" in result)) {
        this.preferred = index;
        this.opts.observer?.(req, result);
        return result;
      }
      if (result.connected) throw result.error;
      lastError = result.error;
      failures.push(result.error.message);
      if (result.pinMismatch === true && i + 1 < this.endpoints.length) {
        const warn = this.opts.onPinMismatch ?? ((url: string, message: string) => void process.stderr.write(`warning: NetHSM ${url}: ${message}; failing over to the next connection\n`));
        warn(ep.url, result.error.message.replace(/^.*?: /, ""));
      }
    }
    if (this.endpoints.length === 1 && lastError) throw lastError;
    throw new NetHsmError(`all ${this.endpoints.length} NetHSM connections failed: ${failures.join("; ")}`, { cause: lastError });
  }

  close(): void {
    for (const ep of this.endpoints) ep.agent.destroy();
  }

  private once(ep: Endpoint, req: HttpRequest): Promise<HttpResponse | Attempt> {
    const url = new URL(ep.base.href.replace(/\/+$/, "") + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { Accept: req.accept ?? "*/*", Connection: this.opts.keepAlive === false ? "close" : "keep-alive" };
    if (req.auth) {
      headers.Authorization = `Basic ${Buffer.from(`${req.auth.user}:${req.auth.passphrase}`, "utf8").toString("base64")}`;
    }
    if (req.body) {
      headers["Content-Type"] = req.body.contentType;
      headers["Content-Length"] = String(req.body.data.length);
    } else if (req.method === "POST" || req.method === "PUT") {
      headers["Content-Length"] = "0";
    }
    const limit = req.maxResponseBytes ?? this.opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const connectTimeoutMs = Math.min(this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, timeoutMs);
    const what = `${req.method} ${req.path}`;
    return new Promise((resolve) => {
      let done = false;
      /** The server may have seen the request: the TLS session was up when the request was written. */
      let connected = false;
      const finish = (r: HttpResponse | Attempt): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(connectTimer);
        resolve(r);
      };
      const r = httpsRequest(url, { method: req.method, agent: ep.agent, headers }, (res) => {
        connected = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > limit) {
            res.destroy();
            r.destroy();
            finish({ connected: true, error: new NetHsmError(`NetHSM ${ep.url}: ${what}: response larger than ${limit} bytes`) });
            return;
          }
          chunks.push(c);
        });
        res.on("end", () =>
          finish({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url: ep.url }),
        );
        res.on("error", (e) => finish({ connected: true, error: new NetHsmError(`NetHSM ${ep.url}: ${what}: ${e.message}`) }));
      });
      const timer = setTimeout(() => {
        r.destroy();
        finish({ connected, error: new NetHsmTimeoutError(`NetHSM ${ep.url}: ${what}: no answer within ${timeoutMs} ms`) });
      }, timeoutMs);
      const connectTimer = setTimeout(() => {
        if (connected) return;
        r.destroy();
        finish({ connected: false, error: new NetHsmConnectionError(ep.url, `no TLS session within ${connectTimeoutMs} ms`) });
      }, connectTimeoutMs);
      r.on("socket", (socket) => {
        const tlsSocket = socket as TLSSocket;
        const up = (): void => {
          connected = true;
          clearTimeout(connectTimer);
        };
        if (r.reusedSocket || establishedSockets.has(tlsSocket)) up();
        else tlsSocket.once("secureConnect", up);
      });
      r.on("error", (e: NodeJS.ErrnoException) => {
        if (e instanceof PinMismatchError) {
          finish({ connected: false, pinMismatch: true, error: new NetHsmConnectionError(ep.url, e.message) });
          return;
        }
        const code = e.code ?? "";
        // Node appends the local end to connect errors (" - Local (undefined:undefined)" when there is none yet).
        const message = e.message.replace(/ - Local \([^)]*\)$/, "");
        const detail = code && !message.includes(code) ? `${code} ${message}` : message;
        const error = new NetHsmConnectionError(ep.url, detail, { cause: e });
        if (r.reusedSocket && (code === "ECONNRESET" || code === "EPIPE")) {
          finish({ connected: false, stale: true, error });
          return;
        }
        // Before the TLS session is up the server cannot have seen the request: fail over.
        finish({ connected, error });
      });
      if (req.body) r.end(req.body.data);
      else r.end();
    });
  }
}
