/** Test harness: a stand-in with OpenAPI response validation and clients with request validation. */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { NetHsmClient, type Credentials, type ExchangeObserver } from "../../../lib/backends/nethsm/index.js";
import { httpsUrl } from "../../../lib/config/primitives.js";
import type { NetHsmConnection, TlsSecurity } from "../../../lib/config/model.js";
import type { ScryptParams } from "../../../lib/nethsm-backup/index.js";
import { startStandIn, type StandIn } from "../../support/nethsm-standin/index.js";
import { ConformanceRecorder } from "./openapi.js";

export const UNLOCK = "unlock-passphrase-1";
export const ADMIN = "admin-passphrase-1";
export const BACKUP = "backup-passphrase-1";

let shared: ConformanceRecorder | undefined;
/** One validator per test file (compiling the spec takes a moment). */
export function recorder(): ConformanceRecorder {
  shared ??= new ConformanceRecorder();
  return shared;
}

export function clientObserver(rec: ConformanceRecorder): ExchangeObserver {
  return (req, res) =>
    rec.record(
      {
        method: req.method,
        path: req.path,
        ...(req.body ? { request: { contentType: req.body.contentType, body: req.body.data } } : {}),
        status: res.status,
        responseContentType: String(res.headers["content-type"] ?? ""),
        responseBody: res.body,
      },
      "request",
    );
}

export interface Harness {
  readonly standIn: StandIn;
  readonly rec: ConformanceRecorder;
  readonly pinned: NetHsmConnection;
  readonly updateKey: KeyObject;
  client(credentials?: Credentials, connections?: readonly NetHsmConnection[]): NetHsmClient;
  close(): Promise<void>;
}

export function connection(url: string, tlsSecurity: TlsSecurity): NetHsmConnection {
  return { url: httpsUrl(url), tlsSecurity };
}

export async function startHarness(opts: { rateLimitMs?: number; scrypt?: ScryptParams; now?: () => number } = {}): Promise<Harness> {
  const rec = recorder();
  const vendor = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const standIn = await startStandIn({
    rateLimitMs: opts.rateLimitMs ?? 1000,
    ...(opts.scrypt ? { scrypt: opts.scrypt } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    updateKey: vendor.publicKey,
    onExchange: (e) =>
      rec.record(
        { method: e.method, path: e.path, status: e.status, responseContentType: e.responseContentType, responseBody: e.responseBody },
        "response",
      ),
  });
  const pinned = connection(standIn.url, { kind: "Fingerprints", sha256: [standIn.tls.fingerprint] });
  const clients: NetHsmClient[] = [];
  return {
    standIn,
    rec,
    pinned,
    updateKey: vendor.privateKey,
    client(credentials, connections = [pinned]) {
      const c = new NetHsmClient({ connections, observer: clientObserver(rec), ...(credentials ? { credentials } : {}) });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await standIn.close();
    },
  };
}

/** Runs fn and returns the error it throws (fails if it does not throw). */
export async function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

/** Raw HTTPS request to the stand-in (for malformed requests the client cannot send). */
export async function raw(
  h: Harness,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer; auth?: Credentials } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.auth) headers.Authorization = `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.passphrase}`).toString("base64")}`;
    const r = request(`${h.standIn.url}${path}`, { method, headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    r.on("error", reject);
    r.end(opts.body);
  });
}
