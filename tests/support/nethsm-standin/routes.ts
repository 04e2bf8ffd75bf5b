/**
 * The endpoint table of the stand-in: per route and method the states it answers in, who may call it, the
 * request content type it accepts, the response type it produces, and the handler (as keyfender's handlers,
 * `src/keyfender/handler_*.ml`, Nitrokey/nethsm 4e192fb9, answer).
 */
import { createPrivateKey, createVerify, randomBytes } from "node:crypto";
import type { KeyObject } from "node:crypto";
import type { NetHsmKeyType, NetHsmMechanism, UserRole } from "../../../lib/backends/nethsm/api-types.js";
import { KEY_TYPES, MECHANISMS } from "../../../lib/backends/nethsm/api-types.js";
import { Device, type State, type User } from "./device.js";
import { base64Field, checkId, checkPassphrase, HttpErr, parseMultipart, parseUserId, strictJson } from "./http.js";
import * as keys from "./keys.js";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface Caller {
  readonly id: string;
  readonly namespace: string | undefined;
  readonly user: User;
}

export interface Ctx {
  readonly dev: Device;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: Buffer;
  readonly contentType: string;
  readonly caller: Caller | undefined;
  readonly baseUrl: string;
  readonly updateKey: KeyObject | undefined;
}

export interface Reply {
  readonly status: number;
  readonly json?: unknown;
  readonly body?: Buffer | string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type AuthSpec = "public" | { readonly roles: readonly UserRole[]; readonly rootOnly?: boolean };

export interface Op {
  readonly states: readonly State[];
  readonly auth: AuthSpec | ((state: State) => AuthSpec);
  /** Accepted request content types (415 otherwise); undefined = not checked. "" allows no Content-Type. */
  readonly accepts?: readonly string[];
  /** Response content type, for Accept negotiation (406). */
  readonly produces?: string;
  /** Body limit (413). Default 1 MiB. */
  readonly maxBody?: number;
  readonly handler: (ctx: Ctx) => Reply | Promise<Reply>;
}

export interface Route {
  readonly pattern: RegExp;
  readonly params: readonly string[];
  readonly methods: Partial<Record<Method, Op>>;
}

const OP: State[] = ["Operational"];
const ALL: State[] = ["Unprovisioned", "Locked", "Operational"];
const ADMIN: AuthSpec = { roles: ["Administrator"] };
const R_ADMIN: AuthSpec = { roles: ["Administrator"], rootOnly: true };
const OPERATOR: AuthSpec = { roles: ["Operator"] };
const ADMIN_OR_OPERATOR: AuthSpec = { roles: ["Administrator", "Operator"] };
const JSON_T = ["application/json"];
const EMPTY_OK = ["", "application/json", "application/octet-stream", "text/plain"];
const BIG = 67 * 1024 * 1024;
const STREAM = 512 * 1024 * 1024;

const noContent: Reply = { status: 204 };
const json = (v: unknown, status = 200): Reply => ({ status, json: v });

function route(path: string, methods: Partial<Record<Method, Op>>): Route {
  const params: string[] = [];
  const re = path.replace(/\{(\w+)\}(\*)?/g, (_m, name: string, star?: string) => {
    params.push(name);
    return star ? "([^/]*)\\*" : "([^/]+)";
  });
  return { pattern: new RegExp(`^${re}$`), params, methods };
}

// ------------------------------------------------------------------ helpers

function userOf(ctx: Ctx, id: string): User {
  const u = ctx.dev.users.get(id);
  if (!u) throw new HttpErr(404);
  return u;
}

function sameNamespace(caller: Caller, targetNs: string | undefined): boolean {
  return (caller.namespace ?? "") === (targetNs ?? "");
}

/** Key in the caller's namespace; 404 if missing. */
function keyOf(ctx: Ctx): keys.StoredKey {
  const id = checkId(ctx.params.KeyID!);
  const k = ctx.dev.keyStore(ctx.caller?.namespace).get(id);
  if (!k) throw new HttpErr(404);
  return k;
}

function checkTags(ctx: Ctx, k: keys.StoredKey): void {
  if (ctx.caller?.user.role !== "Operator" || k.tags.size === 0) return;
  for (const t of ctx.caller.user.tags) if (k.tags.has(t)) return;
  throw new HttpErr(403, "tags restriction not met");
}

function generatedId(): string {
  return randomBytes(10).toString("hex");
}

function parseTime(v: unknown, what: string): Date {
  if (typeof v !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$/.test(v) || Number.isNaN(Date.parse(v))) {
    throw new HttpErr(400, `${what}: invalid time, expected RFC 3339 with a zero offset`);
  }
  return new Date(v);
}

function parseRole(v: unknown): UserRole {
  if (v !== "Administrator" && v !== "Operator" && v !== "Metrics" && v !== "Backup") throw new HttpErr(400, "Invalid data for JSON schema: role");
  return v;
}

function parseMechanisms(v: unknown): NetHsmMechanism[] {
  if (!Array.isArray(v) || !v.every((m) => MECHANISMS.includes(m as NetHsmMechanism))) throw new HttpErr(400, "Invalid data for JSON schema: mechanisms");
  return v as NetHsmMechanism[];
}

function parseKeyType(v: unknown): NetHsmKeyType {
  if (!KEY_TYPES.includes(v as NetHsmKeyType)) throw new HttpErr(400, "Invalid data for JSON schema: type");
  return v as NetHsmKeyType;
}

function parseRestrictions(v: unknown): Set<string> {
  if (v === undefined) return new Set();
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new HttpErr(400, "Invalid data for JSON schema: restrictions");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== "tags") throw new HttpErr(400, `Invalid data for JSON schema: unknown field ${k}`);
  if (o.tags === undefined) return new Set();
  if (!Array.isArray(o.tags) || !o.tags.every((t) => typeof t === "string")) throw new HttpErr(400, "Invalid data for JSON schema: tags");
  return new Set((o.tags as string[]).map((t) => checkId(t, "Tag")));
}

function parseLabel(v: unknown): string | undefined {
  if (v === undefined || v === "") return undefined;
  if (typeof v !== "string" || Buffer.byteLength(v) > 32) throw new HttpErr(400, "label must be a string of at most 32 bytes");
  return v;
}

function keyJson(k: keys.StoredKey): unknown {
  return {
    mechanisms: [...k.mechanisms].sort(),
    type: k.type,
    restrictions: k.tags.size > 0 ? { tags: [...k.tags].sort() } : {},
    public: keys.publicJson(k),
    operations: k.operations,
    ...(k.label ? { label: k.label } : {}),
  };
}

/** can_create_user (keyfender's `src/keyfender/handler_users.ml`, Nitrokey/nethsm 4e192fb9). */
function canCreateUser(ctx: Ctx, targetNs: string | undefined): void {
  const c = ctx.caller!;
  if (sameNamespace(c, targetNs)) return;
  if (c.namespace === undefined && targetNs !== undefined && !ctx.dev.namespaces.has(targetNs)) return;
  throw new HttpErr(403);
}

function createUser(ctx: Ctx, id: string): void {
  const b = strictJson(ctx.body, { realName: { type: "string", required: true }, role: { type: "string", required: true }, passphrase: { type: "string", required: true } });
  const role = parseRole(b.role);
  const passphrase = checkPassphrase(b.passphrase);
  if (ctx.dev.users.has(id)) throw new HttpErr(409, "user already exists");
  ctx.dev.users.set(id, Device.makeUser(b.realName as string, role, passphrase));
  ctx.dev.count("kv write");
}

function putKey(ctx: Ctx, id: string, mode: "import" | "generate"): void {
  const store = ctx.dev.keyStore(ctx.caller!.namespace);
  if (store.has(id)) throw new HttpErr(400, `Key with id ${id} already exists`);
  if (mode === "generate") {
    const b = strictJson(ctx.body, {
      mechanisms: { type: "array", required: true }, type: { type: "string", required: true }, length: { type: "integer" },
      id: { type: "string" }, restrictions: { type: "object" }, label: { type: "string" },
    });
    const type = parseKeyType(b.type);
    const mechanisms = parseMechanisms(b.mechanisms);
    keys.checkMechanisms(type, mechanisms);
    const material = keys.generateKeyMaterial(type, b.length as number | undefined);
    const label = parseLabel(b.label);
    store.set(id, { type, mechanisms, ...material, tags: parseRestrictions(b.restrictions), operations: 0, ...(label ? { label } : {}) });
    ctx.dev.count("generate");
  } else {
    if (ctx.contentType.startsWith("multipart/form-data")) {
      importPem(ctx, store, id);
      return;
    }
    const b = strictJson(ctx.body, {
      mechanisms: { type: "array", required: true }, type: { type: "string", required: true }, private: { type: "object", required: true },
      restrictions: { type: "object" }, label: { type: "string" },
    });
    const type = parseKeyType(b.type);
    const mechanisms = parseMechanisms(b.mechanisms);
    const privIn = b.private as Record<string, unknown>;
    const priv: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(privIn)) {
      if (!["primeP", "primeQ", "publicExponent", "data"].includes(k)) throw new HttpErr(400, `Invalid data for JSON schema: unknown field ${k}`);
      priv[k] = base64Field(v, k);
    }
    const material = keys.importKeyMaterial(type, priv);
    const label = parseLabel(b.label);
    store.set(id, { type, mechanisms, ...material, tags: parseRestrictions(b.restrictions), operations: 0, ...(label ? { label } : {}) });
  }
  ctx.dev.count("kv write");
}

/** multipart/form-data import: JSON arguments, then a PEM private key (PKCS#8, RSA or SEC1 EC). */
function importPem(ctx: Ctx, store: Map<string, keys.StoredKey>, id: string): void {
  const parts = parseMultipart(ctx.body, ctx.contentType);
  if (parts.length !== 2) throw new HttpErr(400, "Expected exactly two parts: arguments and key_file");
  const args = strictJson(parts[0]!.data, { mechanisms: { type: "array", required: true }, restrictions: { type: "object" }, label: { type: "string" } });
  const mechanisms = parseMechanisms(args.mechanisms);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(parts[1]!.data.toString("utf8"));
  } catch {
    throw new HttpErr(400, "Invalid PEM private key");
  }
  let type: NetHsmKeyType;
  try {
    type = keys.keyTypeOf(privateKey);
  } catch {
    throw new HttpErr(400, "Unsupported private key type");
  }
  const label = parseLabel(args.label);
  store.set(id, { type, mechanisms, privateKey, tags: parseRestrictions(args.restrictions), operations: 0, ...(label ? { label } : {}) });
}

function location(ctx: Ctx, path: string): Record<string, string> {
  return { Location: `${ctx.baseUrl}${path}` };
}

// ------------------------------------------------------------------ update images

/** `"_NETHSM_UPDATE_\x00"` ‖ field(signature) ‖ field(changelog) ‖ field(version) ‖ u32be(blocks) ‖ image. */
function parseUpdate(ctx: Ctx): { version: string; releaseNotes: string } {
  const b = ctx.body;
  const magic = Buffer.from("_NETHSM_UPDATE_\x00", "latin1");
  if (b.length < magic.length || !b.subarray(0, magic.length).equals(magic)) throw new HttpErr(400, "Update malformed: bad magic");
  let pos = magic.length;
  const field = (): Buffer => {
    if (pos + 3 > b.length) throw new HttpErr(400, "Update malformed: truncated");
    const len = (b[pos]! << 16) | b.readUInt16BE(pos + 1);
    if (pos + 3 + len > b.length) throw new HttpErr(400, "Update malformed: truncated");
    const f = b.subarray(pos + 3, pos + 3 + len);
    pos += 3 + len;
    return f;
  };
  const signature = field();
  const signedFrom = pos;
  const changelog = field().toString("utf8");
  const version = field().toString("utf8");
  if (pos + 4 > b.length) throw new HttpErr(400, "Update malformed: truncated");
  const blocks = b.readUInt32BE(pos);
  if (b.length - pos - 4 !== blocks * 512) throw new HttpErr(400, "Update malformed: image size does not match");
  if (!ctx.updateKey || !createVerify("sha256").update(b.subarray(signedFrom)).verify(ctx.updateKey, signature)) {
    throw new HttpErr(400, "Signature check of update image failed");
  }
  if (!/^\d+\.\d+$/.test(version)) throw new HttpErr(400, "Update malformed: version");
  if (Number(version.split(".")[0]) < Number(ctx.dev.softwareVersion.split(".")[0])) {
    throw new HttpErr(409, "Software version downgrade not allowed");
  }
  return { version, releaseNotes: changelog };
}

// ------------------------------------------------------------------ the table

export const ROUTES: readonly Route[] = [
  route("/info", { GET: { states: ALL, auth: "public", produces: "application/json", handler: () => json({ vendor: "Nitrokey GmbH", product: "NetHSM" }) } }),
  route("/health/state", { GET: { states: ALL, auth: "public", produces: "application/json", handler: (c) => json({ state: c.dev.state }) } }),
  route("/health/alive", { GET: { states: ["Locked", "Unprovisioned"], auth: "public", handler: () => ({ status: 200 }) } }),
  route("/health/ready", { GET: { states: OP, auth: "public", handler: () => ({ status: 200 }) } }),
  route("/metrics", {
    GET: {
      states: OP,
      auth: { roles: ["Metrics"] },
      produces: "application/json",
      handler: (c) => {
        const m: Record<string, string> = {
          uptime: String(Math.floor((Date.now() - c.dev.startedAt) / 1000)),
          "log warnings": "0",
          "log errors": "0",
          "gc major bytes": String(process.memoryUsage().heapTotal),
          "gc major collections": "0",
          "gc minor collections": "0",
          "gc compactions": "0",
        };
        for (const [k, v] of [...c.dev.counters].sort(([a], [b]) => (a < b ? -1 : 1))) m[k] = k === "http response time" ? v.toFixed(6) : String(v);
        return json(m);
      },
    },
  }),
  route("/provision", {
    POST: {
      states: ["Unprovisioned"],
      auth: "public",
      handler: async (c) => {
        const b = strictJson(c.body, { unlockPassphrase: { type: "string", required: true }, adminPassphrase: { type: "string", required: true }, systemTime: { type: "string", required: true } });
        const unlock = checkPassphrase(b.unlockPassphrase, "unlock passphrase");
        const admin = checkPassphrase(b.adminPassphrase, "admin passphrase");
        const time = parseTime(b.systemTime, "systemTime");
        await c.dev.provision(unlock, admin, time);
        return noContent;
      },
    },
  }),
  route("/unlock", {
    POST: {
      states: ["Locked"],
      auth: "public",
      handler: async (c) => {
        const b = strictJson(c.body, { passphrase: { type: "string", required: true } });
        const p = checkPassphrase(b.passphrase);
        if (!(await c.dev.unlock(p))) throw new HttpErr(403, "not authenticated");
        return noContent;
      },
    },
  }),
  route("/lock", { POST: { states: OP, auth: R_ADMIN, handler: (c) => (c.dev.lock(), noContent) } }),
  route("/random", {
    POST: {
      states: OP,
      auth: OPERATOR,
      produces: "application/json",
      handler: (c) => {
        const b = strictJson(c.body, { length: { type: "integer", required: true } });
        const n = b.length as number;
        if (n < 1 || n > 1024) throw new HttpErr(400, "length must be between 1 and 1024");
        return json({ random: randomBytes(n).toString("base64") });
      },
    },
  }),
  // ---------------------------------------------------------------- users
  route("/users", {
    GET: {
      states: OP,
      auth: ADMIN,
      produces: "application/json",
      handler: (c) => {
        const ids = [...c.dev.users.keys()].filter((id) => c.caller!.namespace === undefined || parseUserId(id).namespace === c.caller!.namespace);
        return json(ids.sort().map((user) => ({ user })));
      },
    },
    POST: {
      states: OP,
      auth: ADMIN,
      accepts: JSON_T,
      produces: "application/json",
      handler: (c) => {
        const ns = c.caller!.namespace;
        const id = ns === undefined ? generatedId() : `${ns}~${generatedId()}`;
        createUser(c, id);
        return { status: 201, json: { id }, headers: location(c, `/users/${id}`) };
      },
    },
  }),
  route("/users/{UserID}", {
    GET: {
      states: OP,
      auth: ADMIN_OR_OPERATOR,
      produces: "application/json",
      handler: (c) => {
        const target = parseUserId(c.params.UserID!);
        const me = c.caller!;
        if (me.user.role === "Operator" && me.id !== target.id) throw new HttpErr(403);
        if (me.user.role === "Administrator" && me.namespace !== undefined && !sameNamespace(me, target.namespace)) throw new HttpErr(403);
        const u = userOf(c, target.id);
        return json({ realName: u.realName, role: u.role });
      },
    },
    PUT: {
      states: OP,
      auth: ADMIN,
      accepts: JSON_T,
      handler: (c) => {
        const target = parseUserId(c.params.UserID!);
        canCreateUser(c, target.namespace);
        createUser(c, target.id);
        return { status: 201, headers: location(c, `/users/${target.id}`) };
      },
    },
    POST: {
      states: OP,
      auth: ADMIN,
      accepts: JSON_T,
      produces: "application/json",
      handler: (c) => {
        const raw = c.params.UserID!;
        if (!raw.endsWith("~")) throw new HttpErr(400, "POST on /users/{id} needs a namespace prefix ending in ~");
        const ns = checkId(raw.slice(0, -1), "Namespace");
        canCreateUser(c, ns);
        const id = `${ns}~${generatedId()}`;
        createUser(c, id);
        return { status: 201, json: { id }, headers: location(c, `/users/${id}`) };
      },
    },
    DELETE: {
      states: OP,
      auth: ADMIN,
      handler: (c) => {
        const target = parseUserId(c.params.UserID!);
        const me = c.caller!;
        if (!sameNamespace(me, target.namespace)) {
          // An R-Admin may delete N-Users only while their namespace does not exist.
          if (!(me.namespace === undefined && target.namespace !== undefined && !c.dev.namespaces.has(target.namespace))) throw new HttpErr(403);
        }
        userOf(c, target.id);
        if (target.id === me.id) throw new HttpErr(400, "Users cannot delete themselves");
        c.dev.users.delete(target.id);
        c.dev.count("kv write");
        return noContent;
      },
    },
  }),
  route("/users/{UserID}/passphrase", {
    POST: {
      states: OP,
      auth: ADMIN_OR_OPERATOR,
      handler: (c) => {
        const target = parseUserId(c.params.UserID!);
        const me = c.caller!;
        if (me.user.role === "Operator" ? me.id !== target.id : !sameNamespace(me, target.namespace)) throw new HttpErr(403);
        const b = strictJson(c.body, { passphrase: { type: "string", required: true } });
        const p = checkPassphrase(b.passphrase);
        const u = userOf(c, target.id);
        const fresh = Device.makeUser(u.realName, u.role, p, u.tags);
        c.dev.users.set(target.id, fresh);
        c.dev.count("kv write");
        return noContent;
      },
    },
  }),
  route("/users/{UserID}/tags", {
    GET: {
      states: OP,
      auth: ADMIN_OR_OPERATOR,
      produces: "application/json",
      handler: (c) => {
        const target = parseUserId(c.params.UserID!);
        const me = c.caller!;
        if (me.user.role === "Operator" && me.id !== target.id) throw new HttpErr(403);
        if (me.user.role === "Administrator" && me.namespace !== undefined && !sameNamespace(me, target.namespace)) throw new HttpErr(403);
        const u = c.dev.users.get(target.id);
        if (!u || u.role !== "Operator") throw new HttpErr(404);
        return json([...u.tags].sort());
      },
    },
  }),
  route("/users/{UserID}/tags/{Tag}", {
    PUT: {
      states: OP,
      auth: ADMIN,
      accepts: EMPTY_OK,
      handler: (c) => {
        const target = parseUserId(c.params.UserID!);
        if (!sameNamespace(c.caller!, target.namespace)) throw new HttpErr(403);
        const tag = checkId(c.params.Tag!, "Tag");
        const u = userOf(c, target.id);
        if (u.role !== "Operator") throw new HttpErr(400, "tag operations only exist on operator users");
        if (u.tags.has(tag)) return { status: 304 };
        u.tags.add(tag);
        c.dev.count("kv write");
        return noContent;
      },
    },
    DELETE: {
      states: OP,
      auth: ADMIN,
      handler: (c) => {
        const target = parseUserId(c.params.UserID!);
        if (!sameNamespace(c.caller!, target.namespace)) throw new HttpErr(403);
        const u = userOf(c, target.id);
        if (!u.tags.delete(c.params.Tag!)) throw new HttpErr(404);
        c.dev.count("kv write");
        return noContent;
      },
    },
  }),
  // ---------------------------------------------------------------- namespaces
  route("/namespaces", {
    GET: { states: OP, auth: R_ADMIN, produces: "application/json", handler: (c) => json([...c.dev.namespaces].sort().map((id) => ({ id }))) },
  }),
  route("/namespaces/{NamespaceID}", {
    PUT: {
      states: OP,
      auth: R_ADMIN,
      accepts: EMPTY_OK,
      handler: (c) => {
        const id = checkId(c.params.NamespaceID!, "Namespace ID");
        if (c.dev.namespaces.has(id)) throw new HttpErr(400, `Namespace ${id} already exists`);
        c.dev.namespaces.add(id);
        c.dev.count("kv write");
        return noContent;
      },
    },
    DELETE: {
      states: OP,
      auth: R_ADMIN,
      handler: (c) => {
        const id = checkId(c.params.NamespaceID!, "Namespace ID");
        if (!c.dev.namespaces.delete(id)) throw new HttpErr(404);
        c.dev.keys.delete(id);
        c.dev.count("kv write");
        return noContent;
      },
    },
  }),
  // ---------------------------------------------------------------- keys
  route("/keys", {
    GET: {
      states: OP,
      auth: ADMIN_OR_OPERATOR,
      produces: "application/json",
      handler: (c) => listKeys(c, undefined),
    },
    POST: {
      states: OP,
      auth: ADMIN,
      accepts: ["application/json", "multipart/form-data"],
      produces: "application/json",
      handler: (c) => {
        const id = generatedId();
        putKey(c, id, "import");
        return { status: 201, json: { id }, headers: location(c, `/keys/${id}`) };
      },
    },
  }),
  route("/keys/generate", {
    POST: {
      states: OP,
      auth: ADMIN,
      accepts: JSON_T,
      produces: "application/json",
      handler: (c) => {
        let id: string | undefined;
        try {
          const v = JSON.parse(c.body.toString()) as { id?: unknown };
          if (typeof v.id === "string") id = checkId(v.id);
        } catch (e) {
          if (e instanceof HttpErr) throw e;
        }
        id ??= generatedId();
        putKey(c, id, "generate");
        return { status: 201, json: { id }, headers: location(c, `/keys/${id}`) };
      },
    },
  }),
  route("/keys/{KeyPrefix}*", {
    GET: {
      states: OP,
      auth: ADMIN_OR_OPERATOR,
      produces: "application/json",
      handler: (c) => {
        const prefix = c.params.KeyPrefix!;
        if (prefix === "") throw new HttpErr(400, "Key prefix must not be empty");
        return listKeys(c, checkId(prefix, "KeyPrefix"));
      },
    },
  }),
  route("/keys/{KeyID}", {
    GET: { states: OP, auth: ADMIN_OR_OPERATOR, produces: "application/json", handler: (c) => json(keyJson(keyOf(c))) },
    PUT: {
      states: OP,
      auth: ADMIN,
      accepts: ["application/json", "multipart/form-data"],
      handler: (c) => {
        putKey(c, checkId(c.params.KeyID!), "import");
        return noContent;
      },
    },
    DELETE: {
      states: OP,
      auth: ADMIN,
      handler: (c) => {
        keyOf(c);
        c.dev.keyStore(c.caller!.namespace).delete(c.params.KeyID!);
        c.dev.count("kv write");
        return noContent;
      },
    },
  }),
  route("/keys/{KeyID}/public.pem", {
    GET: { states: OP, auth: ADMIN_OR_OPERATOR, produces: "application/x-pem-file", handler: (c) => ({ status: 200, body: keys.publicPem(keyOf(c)), contentType: "application/x-pem-file" }) },
  }),
  route("/keys/{KeyID}/cert", {
    GET: {
      states: OP,
      auth: ADMIN_OR_OPERATOR,
      produces: "application/octet-stream",
      handler: (c) => {
        const k = keyOf(c);
        if (!k.cert) throw new HttpErr(404);
        return { status: 200, body: k.cert.data, contentType: k.cert.contentType };
      },
    },
    PUT: {
      states: OP,
      auth: ADMIN,
      accepts: ["application/octet-stream"],
      handler: (c) => {
        const k = keyOf(c);
        if (k.cert) throw new HttpErr(409, "Certificate already exists");
        k.cert = { contentType: "application/octet-stream", data: Buffer.from(c.body) };
        c.dev.count("kv write");
        return { status: 201 };
      },
    },
    DELETE: {
      states: OP,
      auth: ADMIN,
      handler: (c) => {
        const k = keyOf(c);
        if (!k.cert) throw new HttpErr(404);
        delete k.cert;
        c.dev.count("kv write");
        return noContent;
      },
    },
  }),
  route("/keys/{KeyID}/move", {
    POST: {
      states: OP,
      auth: ADMIN,
      produces: "application/json",
      handler: (c) => {
        const k = keyOf(c);
        const b = strictJson(c.body, { newId: { type: "string", required: true } });
        const newId = checkId(b.newId as string);
        const store = c.dev.keyStore(c.caller!.namespace);
        if (store.has(newId)) throw new HttpErr(409, `Key with id ${newId} already exists`);
        store.delete(c.params.KeyID!);
        store.set(newId, k);
        return json({ id: newId });
      },
    },
  }),
  route("/keys/{KeyID}/label", {
    PUT: {
      states: OP,
      auth: ADMIN,
      accepts: JSON_T,
      handler: (c) => {
        const k = keyOf(c);
        const b = strictJson(c.body, { label: { type: "string", required: true } });
        const label = parseLabel(b.label);
        if ((k.label ?? "") === (label ?? "")) return { status: 304 };
        if (label) k.label = label;
        else delete k.label;
        return noContent;
      },
    },
    DELETE: { states: OP, auth: ADMIN, handler: (c) => (delete keyOf(c).label, noContent) },
  }),
  route("/keys/{KeyID}/restrictions/tags/{Tag}", {
    PUT: {
      states: OP,
      auth: ADMIN,
      accepts: EMPTY_OK,
      handler: (c) => {
        const k = keyOf(c);
        const tag = checkId(c.params.Tag!, "Tag");
        if (k.tags.has(tag)) return { status: 304 };
        k.tags.add(tag);
        c.dev.count("kv write");
        return noContent;
      },
    },
    DELETE: {
      states: OP,
      auth: ADMIN,
      handler: (c) => {
        const k = keyOf(c);
        if (!k.tags.delete(c.params.Tag!)) throw new HttpErr(404);
        c.dev.count("kv write");
        return noContent;
      },
    },
  }),
  route("/keys/{KeyID}/sign", {
    POST: {
      states: OP,
      auth: OPERATOR,
      produces: "application/json",
      maxBody: BIG,
      handler: (c) => {
        const k = keyOf(c);
        checkTags(c, k);
        const b = strictJson(c.body, { mode: { type: "string", required: true }, message: { type: "string", required: true } });
        const sig = keys.sign(k, b.mode as string, base64Field(b.message, "message"));
        k.operations++;
        c.dev.count("sign");
        return json({ signature: sig.toString("base64") });
      },
    },
  }),
  route("/keys/{KeyID}/decrypt", {
    POST: {
      states: OP,
      auth: OPERATOR,
      produces: "application/json",
      maxBody: BIG,
      handler: (c) => {
        const k = keyOf(c);
        checkTags(c, k);
        const b = strictJson(c.body, { mode: { type: "string", required: true }, encrypted: { type: "string", required: true }, iv: { type: "string" } });
        const out = keys.decrypt(k, b.mode as string, base64Field(b.encrypted, "encrypted"), b.iv === undefined ? undefined : base64Field(b.iv, "iv"));
        k.operations++;
        c.dev.count("decrypt");
        return json({ decrypted: out.toString("base64") });
      },
    },
  }),
  route("/keys/{KeyID}/encrypt", {
    POST: {
      states: OP,
      auth: OPERATOR,
      produces: "application/json",
      maxBody: BIG,
      handler: (c) => {
        const k = keyOf(c);
        checkTags(c, k);
        const b = strictJson(c.body, { mode: { type: "string", required: true }, message: { type: "string", required: true }, iv: { type: "string" } });
        const out = keys.encrypt(k, b.mode as string, base64Field(b.message, "message"), b.iv === undefined ? undefined : base64Field(b.iv, "iv"));
        k.operations++;
        c.dev.count("encrypt");
        return json({ encrypted: out.encrypted.toString("base64"), iv: out.iv.toString("base64") });
      },
    },
  }),
  // ---------------------------------------------------------------- config
  route("/config/unlock-passphrase", {
    PUT: {
      states: OP,
      auth: R_ADMIN,
      accepts: JSON_T,
      handler: async (c) => {
        const b = strictJson(c.body, { newPassphrase: { type: "string", required: true }, currentPassphrase: { type: "string", required: true } });
        const np = checkPassphrase(b.newPassphrase, "new passphrase");
        if (!(await c.dev.checkUnlockPassphrase(b.currentPassphrase as string))) throw new HttpErr(403, "unlock passphrase is incorrect.");
        await c.dev.setUnlockPassphrase(np);
        return noContent;
      },
    },
  }),
  route("/config/backup-passphrase", {
    PUT: {
      states: OP,
      auth: R_ADMIN,
      accepts: JSON_T,
      handler: async (c) => {
        const b = strictJson(c.body, { newPassphrase: { type: "string", required: true }, currentPassphrase: { type: "string", required: true } });
        const np = checkPassphrase(b.newPassphrase, "new passphrase");
        if (!(await c.dev.checkBackupPassphrase(b.currentPassphrase as string))) throw new HttpErr(403, "backup passphrase is incorrect.");
        await c.dev.setBackupPassphrase(np);
        return noContent;
      },
    },
  }),
  route("/config/unattended-boot", {
    GET: { states: OP, auth: R_ADMIN, produces: "application/json", handler: (c) => json({ status: c.dev.unattendedBoot ? "on" : "off" }) },
    PUT: {
      states: OP,
      auth: R_ADMIN,
      accepts: JSON_T,
      handler: (c) => {
        const b = strictJson(c.body, { status: { type: "string", required: true } });
        if (b.status !== "on" && b.status !== "off") throw new HttpErr(400, "status must be on or off");
        c.dev.unattendedBoot = b.status === "on";
        return noContent;
      },
    },
  }),
  route("/config/time", {
    GET: { states: OP, auth: R_ADMIN, produces: "application/json", handler: (c) => json({ time: c.dev.now().toISOString().replace(/\.\d{3}Z$/, "Z") }) },
    PUT: {
      states: OP,
      auth: R_ADMIN,
      accepts: JSON_T,
      handler: (c) => {
        const b = strictJson(c.body, { time: { type: "string", required: true } });
        c.dev.setTime(parseTime(b.time, "time"));
        return noContent;
      },
    },
  }),
  route("/config/logging", {
    GET: { states: OP, auth: R_ADMIN, produces: "application/json", handler: (c) => json(c.dev.logging) },
    PUT: {
      states: OP,
      auth: R_ADMIN,
      accepts: JSON_T,
      handler: (c) => {
        const b = strictJson(c.body, { ipAddress: { type: "string", required: true }, port: { type: "integer", required: true }, logLevel: { type: "string", required: true } });
        if (!["debug", "info", "warning", "error"].includes(b.logLevel as string)) throw new HttpErr(400, "invalid logLevel");
        c.dev.logging = { ipAddress: b.ipAddress as string, port: b.port as number, logLevel: b.logLevel as string };
        return noContent;
      },
    },
  }),
  route("/config/network", {
    GET: { states: OP, auth: R_ADMIN, produces: "application/json", handler: (c) => json(c.dev.network) },
    PUT: {
      states: OP,
      auth: R_ADMIN,
      accepts: JSON_T,
      handler: (c) => {
        const b = strictJson(c.body, { ipAddress: { type: "string", required: true }, netmask: { type: "string", required: true }, gateway: { type: "string" }, ipv6: { type: "object" } });
        c.dev.network = { ipAddress: b.ipAddress as string, netmask: b.netmask as string, gateway: (b.gateway as string | undefined) ?? "0.0.0.0" };
        return noContent;
      },
    },
  }),
  // ---------------------------------------------------------------- system
  route("/system/info", {
    GET: {
      states: OP,
      auth: R_ADMIN,
      produces: "application/json",
      handler: (c) =>
        json({
          softwareVersion: c.dev.softwareVersion,
          softwareBuild: "signstar-standin",
          firmwareVersion: "standin",
          hardwareVersion: "standin",
          deviceId: c.dev.deviceId,
          akPub: {},
          pcr: {},
        }),
    },
  }),
  route("/system/reboot", { POST: { states: OP, auth: R_ADMIN, handler: (c) => (c.dev.reboot(), noContent) } }),
  route("/system/shutdown", { POST: { states: ALL, auth: (s) => (s === "Operational" ? R_ADMIN : "public"), handler: () => noContent } }),
  route("/system/factory-reset", { POST: { states: OP, auth: R_ADMIN, handler: (c) => (c.dev.factoryReset(), noContent) } }),
  route("/system/update", {
    POST: {
      states: OP,
      auth: R_ADMIN,
      produces: "application/json",
      maxBody: STREAM,
      handler: (c) => {
        if (c.dev.pendingUpdate) throw new HttpErr(409, "An update is already uploaded");
        const u = parseUpdate(c);
        c.dev.pendingUpdate = u;
        return json({ releaseNotes: u.releaseNotes });
      },
    },
  }),
  route("/system/commit-update", {
    POST: {
      states: OP,
      auth: R_ADMIN,
      handler: (c) => {
        if (!c.dev.pendingUpdate) throw new HttpErr(412, "No update available. Upload first.");
        c.dev.softwareVersion = c.dev.pendingUpdate.version;
        c.dev.pendingUpdate = undefined;
        c.dev.reboot();
        return noContent;
      },
    },
  }),
  route("/system/cancel-update", {
    POST: {
      states: OP,
      auth: R_ADMIN,
      handler: (c) => {
        if (!c.dev.pendingUpdate) throw new HttpErr(412, "No update available. Upload first.");
        c.dev.pendingUpdate = undefined;
        return noContent;
      },
    },
  }),
  route("/system/backup", {
    POST: {
      states: OP,
      auth: { roles: ["Backup"], rootOnly: true },
      produces: "application/octet-stream",
      handler: (c) => ({ status: 200, body: c.dev.backup(), contentType: "application/octet-stream" }),
    },
  }),
  route("/system/restore", {
    POST: {
      states: ["Unprovisioned", "Operational"],
      auth: (s) => (s === "Unprovisioned" ? "public" : R_ADMIN),
      accepts: ["multipart/form-data"],
      maxBody: STREAM,
      handler: async (c) => {
        const parts = parseMultipart(c.body, c.contentType);
        if (parts.length !== 2) throw new HttpErr(400, "Expected exactly two parts: arguments and backup");
        if (parts[0]!.data.length > 1024) throw new HttpErr(400, "arguments part too large");
        const args = strictJson(parts[0]!.data, { backupPassphrase: { type: "string" }, systemTime: { type: "string" } });
        const pass = args.backupPassphrase === undefined ? undefined : checkPassphrase(args.backupPassphrase, "backup passphrase");
        const time = args.systemTime === undefined ? undefined : parseTime(args.systemTime, "systemTime");
        await c.dev.restore(parts[1]!.data, pass, time);
        return noContent;
      },
    },
  }),
];

function listKeys(c: Ctx, prefix: string | undefined): Reply {
  const store = c.dev.keyStore(c.caller!.namespace);
  const filter = c.query.has("filter") && c.caller!.user.role === "Operator";
  const label = c.query.get("label");
  const ids = [...store.entries()]
    .filter(([id]) => prefix === undefined || id.startsWith(prefix))
    .filter(([, k]) => !filter || k.tags.size === 0 || [...c.caller!.user.tags].some((t) => k.tags.has(t)))
    .filter(([, k]) => label === null || (k.label ?? "") === label)
    .map(([id]) => id)
    .sort();
  return json(ids.map((id) => ({ id })));
}
