/**
 * Typed NetHSM REST client (API v1). One instance = one set of connections and, optionally, one user's
 * credentials. Every method maps an unexpected status to NetHsmHttpError with the device's `{"message"}`.
 */
import { randomBytes } from "node:crypto";
import { oneLine } from "../../errors.js";
import type {
  KeyDetails,
  KeyGenerateRequest,
  KeyImportRequest,
  Metrics,
  NetHsmKeyType,
  NetHsmMechanism,
  SignMode,
  SystemInfo,
  SystemState,
  UserData,
  UserRole,
} from "./api-types.js";
import { KEY_TYPES, MECHANISMS } from "./api-types.js";
import { NetHsmHttpError, NetHsmProtocolError } from "./errors.js";
import { NetHsmTransport, type Credentials, type HttpRequest, type HttpResponse, type TransportOptions } from "./transport.js";

export const MAX_BACKUP_RESPONSE_BYTES = 256 * 1024 * 1024;
const MAX_SERVER_MESSAGE = 300;

const seg = (s: string): string => encodeURIComponent(s);
const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");

function fromB64(s: unknown, what: string): Buffer {
  if (typeof s !== "string" || !/^[A-Za-z0-9+/\r\n]*={0,3}$/.test(s)) throw new NetHsmProtocolError(`${what} is not base64`);
  return Buffer.from(s.replace(/[\r\n]/g, ""), "base64");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export interface ClientOptions extends TransportOptions {
  readonly credentials?: Credentials;
}

export class NetHsmClient {
  readonly transport: NetHsmTransport;
  private readonly ownsTransport: boolean;
  private readonly credentials: Credentials | undefined;

  constructor(opts: ClientOptions | { transport: NetHsmTransport; credentials?: Credentials }) {
    if ("transport" in opts) {
      this.transport = opts.transport;
      this.ownsTransport = false;
    } else {
      this.transport = new NetHsmTransport(opts);
      this.ownsTransport = true;
    }
    this.credentials = opts.credentials;
  }

  /** The same connections with other credentials (shares the keep-alive agents). */
  as(credentials: Credentials | undefined): NetHsmClient {
    return new NetHsmClient({ transport: this.transport, ...(credentials ? { credentials } : {}) });
  }

  get user(): string | undefined {
    return this.credentials?.user;
  }

  close(): void {
    if (this.ownsTransport) this.transport.close();
  }

  // ---------------------------------------------------------------- plumbing

  private async call(
    req: Omit<HttpRequest, "auth"> & { readonly noAuth?: boolean },
    expected: readonly number[],
  ): Promise<HttpResponse> {
    const auth = req.noAuth ? undefined : this.credentials;
    const res = await this.transport.request({ ...req, ...(auth ? { auth } : {}) });
    if (!expected.includes(res.status)) throw this.httpError(req, res);
    return res;
  }

  private httpError(req: Pick<HttpRequest, "method" | "path">, res: HttpResponse): NetHsmHttpError {
    let message: string | undefined;
    const type = String(res.headers["content-type"] ?? "");
    if (res.body.length > 0 && res.body.length < 64 * 1024) {
      if (type.startsWith("application/json")) {
        try {
          const parsed: unknown = JSON.parse(res.body.toString("utf8"));
          if (isObject(parsed) && typeof parsed.message === "string") message = parsed.message;
        } catch {
          message = undefined;
        }
      } else if (type.startsWith("text/")) {
        message = res.body.toString("utf8");
      }
    }
    if (message !== undefined) {
      message = oneLine(message).slice(0, MAX_SERVER_MESSAGE);
      const secret = this.credentials?.passphrase;
      if (secret && message.includes(secret)) message = message.split(secret).join("***");
    }
    const who = this.credentials ? ` as ${this.credentials.user}` : "";
    const path = req.path.split("?")[0]!;
    return new NetHsmHttpError(res.status, `${req.method} ${path}`, message || undefined, `NetHSM ${res.url}${who}`);
  }

  private json(res: HttpResponse, what: string): unknown {
    try {
      return JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new NetHsmProtocolError(`NetHSM ${res.url}: ${what}: response is not JSON`);
    }
  }

  private async getJson(path: string, what: string, query?: Record<string, string>, noAuth = false): Promise<unknown> {
    const res = await this.call({ method: "GET", path, accept: "application/json", ...(query ? { query } : {}), noAuth }, [200]);
    return this.json(res, what);
  }

  private jsonBody(value: unknown): { contentType: string; data: Buffer } {
    return { contentType: "application/json", data: Buffer.from(JSON.stringify(value), "utf8") };
  }

  private idList(v: unknown, field: "id" | "user", what: string): string[] {
    if (!Array.isArray(v)) throw new NetHsmProtocolError(`${what}: expected a JSON array`);
    return v.map((x) => {
      if (!isObject(x) || typeof x[field] !== "string") throw new NetHsmProtocolError(`${what}: item without "${field}"`);
      return x[field] as string;
    });
  }

  // ---------------------------------------------------------------- health and info

  async state(): Promise<SystemState> {
    const v = await this.getJson("/health/state", "GET /health/state", undefined, true);
    if (!isObject(v) || !["Unprovisioned", "Locked", "Operational", "Failed"].includes(String(v.state))) {
      throw new NetHsmProtocolError("GET /health/state: no valid state");
    }
    return v.state as SystemState;
  }

  /** true when Operational (GET /health/ready answers 200; 412 otherwise). */
  async ready(): Promise<boolean> {
    const res = await this.call({ method: "GET", path: "/health/ready", noAuth: true }, [200, 412]);
    return res.status === 200;
  }

  /** true when Locked or Unprovisioned. */
  async alive(): Promise<boolean> {
    const res = await this.call({ method: "GET", path: "/health/alive", noAuth: true }, [200, 412]);
    return res.status === 200;
  }

  async info(): Promise<{ vendor: string; product: string }> {
    const v = await this.getJson("/info", "GET /info", undefined, true);
    if (!isObject(v) || typeof v.vendor !== "string" || typeof v.product !== "string") {
      throw new NetHsmProtocolError("GET /info: vendor/product missing");
    }
    return { vendor: v.vendor, product: v.product };
  }

  async systemInfo(): Promise<SystemInfo> {
    const v = await this.getJson("/system/info", "GET /system/info");
    if (!isObject(v) || typeof v.softwareVersion !== "string" || typeof v.deviceId !== "string") {
      throw new NetHsmProtocolError("GET /system/info: unexpected shape");
    }
    return v as unknown as SystemInfo;
  }

  // ---------------------------------------------------------------- state changes

  async provision(p: { unlockPassphrase: string; adminPassphrase: string; systemTime: Date }): Promise<void> {
    await this.call(
      {
        method: "POST",
        path: "/provision",
        noAuth: true,
        body: this.jsonBody({
          unlockPassphrase: p.unlockPassphrase,
          adminPassphrase: p.adminPassphrase,
          systemTime: rfc3339(p.systemTime),
        }),
      },
      [204],
    );
  }

  async unlock(passphrase: string): Promise<void> {
    await this.call({ method: "POST", path: "/unlock", noAuth: true, body: this.jsonBody({ passphrase }) }, [204]);
  }

  async lock(): Promise<void> {
    await this.call({ method: "POST", path: "/lock" }, [204]);
  }

  async reboot(): Promise<void> {
    await this.call({ method: "POST", path: "/system/reboot" }, [204]);
  }

  async factoryReset(): Promise<void> {
    await this.call({ method: "POST", path: "/system/factory-reset" }, [204]);
  }

  // ---------------------------------------------------------------- users

  async listUsers(): Promise<string[]> {
    return this.idList(await this.getJson("/users", "GET /users"), "user", "GET /users");
  }

  async getUser(userId: string): Promise<UserData> {
    const v = await this.getJson(`/users/${seg(userId)}`, "GET /users/{id}");
    if (!isObject(v) || typeof v.realName !== "string" || typeof v.role !== "string") {
      throw new NetHsmProtocolError(`GET /users/${userId}: unexpected shape`);
    }
    return { realName: v.realName, role: v.role as UserRole };
  }

  /**
   * Creates a user. With `userId` (`name` or `ns~name`): PUT under that id. Without: POST, the device picks the
   * id (in the caller's namespace, or in `namespace` if given). Returns the user id.
   */
  async addUser(u: { realName: string; role: UserRole; passphrase: string; userId?: string; namespace?: string }): Promise<string> {
    const body = this.jsonBody({ realName: u.realName, role: u.role, passphrase: u.passphrase });
    if (u.userId !== undefined) {
      await this.call({ method: "PUT", path: `/users/${seg(u.userId)}`, body }, [201]);
      return u.userId;
    }
    const path = u.namespace !== undefined ? `/users/${seg(u.namespace)}~` : "/users";
    const res = await this.call({ method: "POST", path, body }, [201]);
    const v = this.json(res, `POST ${path}`);
    if (!isObject(v) || typeof v.id !== "string") throw new NetHsmProtocolError(`POST ${path}: no id in the answer`);
    return v.id;
  }

  async deleteUser(userId: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/users/${seg(userId)}` }, [204]);
  }

  async setUserPassphrase(userId: string, passphrase: string): Promise<void> {
    await this.call({ method: "POST", path: `/users/${seg(userId)}/passphrase`, body: this.jsonBody({ passphrase }) }, [204]);
  }

  async getUserTags(userId: string): Promise<string[]> {
    const v = await this.getJson(`/users/${seg(userId)}/tags`, "GET /users/{id}/tags");
    if (!Array.isArray(v) || !v.every((t) => typeof t === "string")) throw new NetHsmProtocolError("GET /users/{id}/tags: not a list");
    return v as string[];
  }

  /** Returns false when the tag was already present (304). */
  async addUserTag(userId: string, tag: string): Promise<boolean> {
    const res = await this.call({ method: "PUT", path: `/users/${seg(userId)}/tags/${seg(tag)}` }, [204, 304]);
    return res.status === 204;
  }

  async deleteUserTag(userId: string, tag: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/users/${seg(userId)}/tags/${seg(tag)}` }, [204]);
  }

  // ---------------------------------------------------------------- namespaces

  async listNamespaces(): Promise<string[]> {
    return this.idList(await this.getJson("/namespaces", "GET /namespaces"), "id", "GET /namespaces");
  }

  async addNamespace(id: string): Promise<void> {
    await this.call({ method: "PUT", path: `/namespaces/${seg(id)}` }, [204]);
  }

  async deleteNamespace(id: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/namespaces/${seg(id)}` }, [204]);
  }

  // ---------------------------------------------------------------- keys

  async listKeys(opts: { filter?: boolean; prefix?: string } = {}): Promise<string[]> {
    const path = opts.prefix !== undefined ? `/keys/${seg(opts.prefix)}*` : "/keys";
    const query: Record<string, string> = opts.filter ? { filter: "" } : {};
    return this.idList(await this.getJson(path, `GET ${path}`, query), "id", `GET ${path}`);
  }

  async generateKey(r: KeyGenerateRequest): Promise<string> {
    const body = {
      mechanisms: r.mechanisms,
      type: r.type,
      ...(r.length !== undefined ? { length: r.length } : {}),
      ...(r.id !== undefined ? { id: r.id } : {}),
      ...(r.tags && r.tags.length > 0 ? { restrictions: { tags: r.tags } } : {}),
      ...(r.label !== undefined ? { label: r.label } : {}),
    };
    const res = await this.call({ method: "POST", path: "/keys/generate", body: this.jsonBody(body) }, [201]);
    const v = this.json(res, "POST /keys/generate");
    if (!isObject(v) || typeof v.id !== "string") throw new NetHsmProtocolError("POST /keys/generate: no id in the answer");
    return v.id;
  }

  /** Imports a private key (JSON form). With `id`: PUT (204); without: POST (201, generated id). */
  async importKey(r: KeyImportRequest, id?: string): Promise<string> {
    const priv =
      r.key.type === "RSA"
        ? { primeP: b64(r.key.primeP), primeQ: b64(r.key.primeQ), publicExponent: b64(r.key.publicExponent) }
        : { data: b64(r.key.data) };
    const body = this.jsonBody({
      mechanisms: r.mechanisms,
      type: r.key.type,
      private: priv,
      ...(r.tags && r.tags.length > 0 ? { restrictions: { tags: r.tags } } : {}),
      ...(r.label !== undefined ? { label: r.label } : {}),
    });
    return this.storeKey(body, id);
  }

  /** Stores an import body: PUT /keys/{id} (204) with an id, else POST /keys (201) and the generated id. */
  private async storeKey(body: HttpRequest["body"], id: string | undefined): Promise<string> {
    if (id !== undefined) {
      await this.call({ method: "PUT", path: `/keys/${seg(id)}`, body }, [204]);
      return id;
    }
    const res = await this.call({ method: "POST", path: "/keys", body }, [201]);
    const v = this.json(res, "POST /keys");
    if (!isObject(v) || typeof v.id !== "string") throw new NetHsmProtocolError("POST /keys: no id in the answer");
    return v.id;
  }

  /**
   * Imports a PEM private key (PKCS#8, `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`) as multipart/form-data.
   * With `id`: PUT (204); without: POST (201, generated id).
   */
  async importKeyPem(
    pem: string,
    args: { mechanisms: readonly NetHsmMechanism[]; tags?: readonly string[]; label?: string },
    id?: string,
  ): Promise<string> {
    const json = JSON.stringify({
      mechanisms: args.mechanisms,
      ...(args.tags && args.tags.length > 0 ? { restrictions: { tags: args.tags } } : {}),
      ...(args.label !== undefined ? { label: args.label } : {}),
    });
    const body = multipart([
      { name: "arguments", contentType: "application/json", data: Buffer.from(json, "utf8") },
      { name: "key_file", filename: "key.pem", contentType: "application/x-pem-file", data: Buffer.from(pem, "utf8") },
    ]);
    return this.storeKey(body, id);
  }

  async getKey(id: string): Promise<KeyDetails> {
    const v = await this.getJson(`/keys/${seg(id)}`, "GET /keys/{id}");
    return parseKeyDetails(v, `GET /keys/${id}`);
  }

  async deleteKey(id: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/keys/${seg(id)}` }, [204]);
  }

  async getPublicKeyPem(id: string): Promise<string> {
    const res = await this.call({ method: "GET", path: `/keys/${seg(id)}/public.pem`, accept: "application/x-pem-file" }, [200]);
    return res.body.toString("utf8");
  }

  async putKeyCertificate(id: string, cert: Uint8Array): Promise<void> {
    await this.call(
      { method: "PUT", path: `/keys/${seg(id)}/cert`, body: { contentType: "application/octet-stream", data: cert } },
      [201],
    );
  }

  /** The stored certificate bytes, or undefined if the key has none (404; also when the key itself is missing). */
  async getKeyCertificate(id: string): Promise<Buffer | undefined> {
    const res = await this.call({ method: "GET", path: `/keys/${seg(id)}/cert`, accept: "application/octet-stream" }, [200, 404]);
    return res.status === 200 ? res.body : undefined;
  }

  async deleteKeyCertificate(id: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/keys/${seg(id)}/cert` }, [204]);
  }

  async addKeyTag(id: string, tag: string): Promise<boolean> {
    const res = await this.call({ method: "PUT", path: `/keys/${seg(id)}/restrictions/tags/${seg(tag)}` }, [204, 304]);
    return res.status === 204;
  }

  async deleteKeyTag(id: string, tag: string): Promise<void> {
    await this.call({ method: "DELETE", path: `/keys/${seg(id)}/restrictions/tags/${seg(tag)}` }, [204]);
  }

  async moveKey(id: string, newId: string): Promise<void> {
    await this.call({ method: "POST", path: `/keys/${seg(id)}/move`, body: this.jsonBody({ newId }) }, [200]);
  }

  /** POST /keys/{id}/sign: the raw signature bytes in the NetHSM encoding of the mode. */
  async sign(id: string, mode: SignMode, message: Uint8Array): Promise<Buffer> {
    const res = await this.call(
      { method: "POST", path: `/keys/${seg(id)}/sign`, accept: "application/json", body: this.jsonBody({ mode, message: b64(message) }) },
      [200],
    );
    const v = this.json(res, "POST /keys/{id}/sign");
    if (!isObject(v)) throw new NetHsmProtocolError("POST /keys/{id}/sign: no signature");
    return fromB64(v.signature, `sign ${id}: signature`);
  }

  async random(length: number): Promise<Buffer> {
    const res = await this.call({ method: "POST", path: "/random", body: this.jsonBody({ length }) }, [200]);
    const v = this.json(res, "POST /random");
    if (!isObject(v)) throw new NetHsmProtocolError("POST /random: no data");
    return fromB64(v.random, "random");
  }

  async metrics(): Promise<Metrics> {
    const v = await this.getJson("/metrics", "GET /metrics");
    if (!isObject(v)) throw new NetHsmProtocolError("GET /metrics: not a JSON object");
    const out: Record<string, string | number> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== "string" && typeof x !== "number") throw new NetHsmProtocolError(`GET /metrics: value of "${k}" is not a string or number`);
      out[k] = x;
    }
    return out;
  }

  // ---------------------------------------------------------------- config

  async setBackupPassphrase(newPassphrase: string, currentPassphrase: string): Promise<void> {
    await this.call(
      { method: "PUT", path: "/config/backup-passphrase", body: this.jsonBody({ newPassphrase, currentPassphrase }) },
      [204],
    );
  }

  async setUnlockPassphrase(newPassphrase: string, currentPassphrase: string): Promise<void> {
    await this.call(
      { method: "PUT", path: "/config/unlock-passphrase", body: this.jsonBody({ newPassphrase, currentPassphrase }) },
      [204],
    );
  }

  async getTime(): Promise<Date> {
    const v = await this.getJson("/config/time", "GET /config/time");
    if (!isObject(v) || typeof v.time !== "string" || Number.isNaN(Date.parse(v.time))) {
      throw new NetHsmProtocolError("GET /config/time: no valid time");
    }
    return new Date(v.time);
  }

  async setTime(time: Date): Promise<void> {
    await this.call({ method: "PUT", path: "/config/time", body: this.jsonBody({ time: rfc3339(time) }) }, [204]);
  }

  async getUnattendedBoot(): Promise<boolean> {
    const v = await this.getJson("/config/unattended-boot", "GET /config/unattended-boot");
    if (!isObject(v) || (v.status !== "on" && v.status !== "off")) throw new NetHsmProtocolError("GET /config/unattended-boot: bad status");
    return v.status === "on";
  }

  async setUnattendedBoot(on: boolean): Promise<void> {
    await this.call({ method: "PUT", path: "/config/unattended-boot", body: this.jsonBody({ status: on ? "on" : "off" }) }, [204]);
  }

  // ---------------------------------------------------------------- backup, restore, update

  async backup(): Promise<Buffer> {
    const res = await this.call(
      { method: "POST", path: "/system/backup", accept: "application/octet-stream", maxResponseBytes: MAX_BACKUP_RESPONSE_BYTES, timeoutMs: 600_000 },
      [200],
    );
    return res.body;
  }

  /**
   * POST /system/restore (multipart: JSON arguments, then the backup). Unprovisioned: no auth, full restore
   * (device ends Locked). Operational: needs an R-Administrator (partial restore).
   */
  async restore(backup: Uint8Array, args: { backupPassphrase?: string; systemTime?: Date } = {}): Promise<void> {
    const json = JSON.stringify({
      ...(args.backupPassphrase !== undefined ? { backupPassphrase: args.backupPassphrase } : {}),
      ...(args.systemTime ? { systemTime: rfc3339(args.systemTime) } : {}),
    });
    const body = multipart([
      { name: "arguments", contentType: "application/json", data: Buffer.from(json, "utf8") },
      { name: "backup_file", filename: "backup.bin", contentType: "application/octet-stream", data: backup },
    ]);
    await this.call({ method: "POST", path: "/system/restore", body, timeoutMs: 600_000 }, [204]);
  }

  /** Uploads an update image; returns its release notes. */
  async uploadUpdate(image: Uint8Array): Promise<string> {
    const res = await this.call(
      { method: "POST", path: "/system/update", body: { contentType: "application/octet-stream", data: image }, timeoutMs: 600_000 },
      [200],
    );
    const v = this.json(res, "POST /system/update");
    if (!isObject(v) || typeof v.releaseNotes !== "string") throw new NetHsmProtocolError("POST /system/update: no releaseNotes");
    return v.releaseNotes;
  }

  async commitUpdate(): Promise<void> {
    await this.call({ method: "POST", path: "/system/commit-update" }, [204]);
  }

  async cancelUpdate(): Promise<void> {
    await this.call({ method: "POST", path: "/system/cancel-update" }, [204]);
  }
}

/** multipart/form-data with a random boundary (parts in order; the device ignores names, order matters). */
function multipart(parts: readonly { name: string; filename?: string; contentType: string; data: Uint8Array }[]): { contentType: string; data: Buffer } {
  const boundary = `signstar-${randomBytes(12).toString("hex")}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ""}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: ${p.contentType}\r\n\r\n`, "utf8"), Buffer.from(p.data), Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`, "utf8"));
  return { contentType: `multipart/form-data; boundary=${boundary}`, data: Buffer.concat(chunks) };
}

export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function parseKeyDetails(v: unknown, what: string): KeyDetails {
  if (!isObject(v)) throw new NetHsmProtocolError(`${what}: not a JSON object`);
  if (typeof v.type !== "string" || !KEY_TYPES.includes(v.type as NetHsmKeyType)) {
    throw new NetHsmProtocolError(`${what}: unknown key type ${JSON.stringify(v.type)}`);
  }
  if (!Array.isArray(v.mechanisms) || !v.mechanisms.every((m) => MECHANISMS.includes(m as NetHsmMechanism))) {
    throw new NetHsmProtocolError(`${what}: bad mechanisms`);
  }
  const restrictions = isObject(v.restrictions) ? v.restrictions : {};
  const tags = Array.isArray(restrictions.tags) ? restrictions.tags.filter((t): t is string => typeof t === "string") : undefined;
  const pub = v.public;
  if (pub !== undefined && pub !== null && !isObject(pub)) throw new NetHsmProtocolError(`${what}: bad public part`);
  const publicData = isObject(pub)
    ? {
        ...(typeof pub.modulus === "string" ? { modulus: pub.modulus } : {}),
        ...(typeof pub.publicExponent === "string" ? { publicExponent: pub.publicExponent } : {}),
        ...(typeof pub.data === "string" ? { data: pub.data } : {}),
      }
    : null;
  return {
    mechanisms: v.mechanisms as NetHsmMechanism[],
    type: v.type as NetHsmKeyType,
    restrictions: tags ? { tags } : {},
    public: publicData,
    operations: typeof v.operations === "number" ? v.operations : 0,
    ...(typeof v.label === "string" ? { label: v.label } : {}),
  };
}
