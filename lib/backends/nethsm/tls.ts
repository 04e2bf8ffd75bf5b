/**
 * One keep-alive https.Agent per configured connection, verifying the server per the config's TLS mode:
 * Unsafe (no verification), Native (system CA bundle + host name), or pinned SHA-256 fingerprints of the
 * server certificate (DER). Pinned connections are checked before the agent hands the socket to a request,
 * so no credentials are sent to an unverified server.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, type AgentOptions, type RequestOptions } from "node:https";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import type { TlsSecurity } from "../../config/model.js";

export const SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";

let systemCas: string[] | undefined;
function systemCaBundle(): string[] {
  if (!systemCas) {
    try {
      const pem = readFileSync(SYSTEM_CA_FILE, "utf8");
      systemCas = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [...tls.rootCertificates];
    } catch {
      systemCas = [...tls.rootCertificates];
    }
  }
  return systemCas;
}

export function sha256Fingerprint(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/** Normalises `AA:BB:…` or `aabb…` to lowercase hex without separators. */
export function normaliseFingerprint(fp: string): string {
  return fp.replace(/:/g, "").toLowerCase();
}

/** Sockets the pinned agent hands out only after their TLS session is up (and verified). */
export const establishedSockets = new WeakSet<object>();

export class PinMismatchError extends Error {
  constructor(readonly actual: string) {
    super(`server certificate sha256 ${actual} matches no configured fingerprint`);
  }
}

export interface AgentSettings {
  readonly connectTimeoutMs: number;
  readonly maxSockets: number;
  readonly keepAlive: boolean;
  /** Extra trust anchors for Native mode (tests; PEM). */
  readonly extraCa?: readonly string[];
}

type OnCreate = (err: Error | null, socket: Duplex) => void;

class PinnedAgent extends Agent {
  constructor(
    options: AgentOptions,
    private readonly pins: ReadonlySet<string>,
  ) {
    super(options);
  }
  override createConnection(options: RequestOptions, oncreate?: OnCreate): undefined {
    const socket = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false });
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      oncreate?.(err, socket);
    };
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      const fp = cert && cert.raw ? sha256Fingerprint(cert.raw) : "none";
      if (!this.pins.has(fp)) return fail(new PinMismatchError(fp));
      settled = true;
      socket.removeListener("error", fail);
      establishedSockets.add(socket);
      oncreate?.(null, socket);
    });
    return undefined;
  }
}

export function createAgent(security: TlsSecurity, s: AgentSettings): Agent {
  const base: AgentOptions = {
    keepAlive: s.keepAlive,
    maxSockets: s.maxSockets,
    maxFreeSockets: s.maxSockets,
    timeout: s.connectTimeoutMs,
    scheduling: "lifo",
  };
  switch (security.kind) {
    case "Unsafe":
      return new Agent({ ...base, rejectUnauthorized: false });
    case "Native":
      return new Agent({ ...base, rejectUnauthorized: true, ca: [...systemCaBundle(), ...(s.extraCa ?? [])] });
    case "Fingerprints":
      return new PinnedAgent(base, new Set(security.sha256.map(normaliseFingerprint)));
  }
}
