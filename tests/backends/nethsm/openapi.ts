/**
 * OpenAPI conformance for NetHSM exchanges: every request our client sends and every response the stand-in
 * returns is checked against the NetHSM OpenAPI document (`docs/nethsm-api.yaml`, Nitrokey/nethsm 4e192fb9) with ajv. Schemas are converted from OpenAPI 3.0
 * (nullable, example, binary) to JSON Schema. Known device-vs-spec deviations (where keyfender answers otherwise than the document) are listed
 * explicitly with their reason; anything else is a problem and fails the test that collected it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "../../support/repo.js";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { parse as parseYaml } from "yaml";
import { parseMultipart, type Part } from "../../support/nethsm-standin/http.js";

export const SPEC_PATH = join(FIXTURES, "nethsm", "nethsm-api.yaml");

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** Statuses the device's webmachine flow can return on any operation although the spec omits them. */
const GLOBAL_STATUSES: Readonly<Record<number, string>> = {
  405: "webmachine: method not allowed (notes §1)",
  413: "webmachine: body too long (notes §1)",
  414: "webmachine: URI too long (notes §1)",
  415: "webmachine: unsupported content type (notes §1)",
  429: "rate limit after a failed login (notes §2)",
};

/** Per-operation statuses the device returns that the spec does not document (notes §4, §5). */
const DEVIATIONS: readonly { method: string; path: string; status: number; reason: string }[] = [
  { method: "POST", path: "/system/restore", status: 401, reason: "restore while Operational needs an R-Administrator (notes §4.8, §5)" },
  { method: "POST", path: "/system/restore", status: 403, reason: "restore while Operational needs an R-Administrator (notes §4.8)" },
  { method: "PUT", path: "/keys/{KeyID}/cert", status: 404, reason: "no such key: webmachine resource_exists (notes §4.5)" },
  { method: "POST", path: "/unlock", status: 429, reason: "unlock rate limit (notes §2)" },
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObj(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * OpenAPI 3.0 schema → JSON Schema (draft-07 as ajv understands it). With `strict` (request bodies), objects
 * that list properties get `additionalProperties: false`: the spec says "Additional properties will cause a
 * Bad Request Error (400)" and the device parses strictly (notes §1).
 */
function convert(s: Json, strict = false): Json {
  if (Array.isArray(s)) return s.map((x) => convert(x, strict));
  if (!isObj(s)) return s;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "example" || k === "examples" || k === "nullable" || k.startsWith("x-") || k === "xml") continue;
    if (k === "$ref" && typeof v === "string") {
      out.$ref = v.replace("#/components/schemas/", strict ? "nethsm-request#/definitions/" : "nethsm#/definitions/");
      continue;
    }
    if (k === "format" && v === "binary") continue;
    out[k] = k === "properties" && isObj(v) ? Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, convert(ps, strict)])) : convert(v, strict);
  }
  if (strict && isObj(s.properties) && s.type === "object" && s.additionalProperties === undefined) out.additionalProperties = false;
  if (s.nullable === true) {
    if (typeof out.type === "string") out.type = [out.type, "null"];
    else return { anyOf: [out, { type: "null" }] };
  }
  return out;
}

interface OperationSpec {
  readonly method: string;
  readonly template: string;
  readonly pattern: RegExp;
  readonly specificity: number;
  readonly pathParams: ReadonlyMap<string, ValidateFunction>;
  readonly requestBody: ReadonlyMap<string, ValidateFunction | undefined> | undefined;
  readonly responses: ReadonlyMap<string, ReadonlyMap<string, ValidateFunction | undefined>>;
}

export interface ExchangeRecord {
  readonly method: string;
  /** Path below /api/v1, percent-encoded as sent. */
  readonly path: string;
  readonly request?: { readonly contentType: string; readonly body: Uint8Array };
  readonly status: number;
  readonly responseContentType: string;
  readonly responseBody: Uint8Array;
}

export class OpenApiValidator {
  private readonly ops: OperationSpec[] = [];
  private readonly ajv: Ajv;
  readonly errorResponse: ValidateFunction;
  private readonly multipartArguments: ReadonlyMap<string, ValidateFunction>;

  constructor(specPath = SPEC_PATH) {
    const spec = parseYaml(readFileSync(specPath, "utf8")) as JsonObject;
    this.ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(this.ajv);
    const components = (spec.components as JsonObject).schemas as JsonObject;
    const definitions: JsonObject = {};
    const requestDefinitions: JsonObject = {};
    for (const [name, schema] of Object.entries(components)) {
      definitions[name] = convert(schema);
      requestDefinitions[name] = convert(schema, true);
    }
    // Deviation (notes §4.5): `public` is null for Generic keys; the spec has no `nullable`.
    definitions.KeyPublicData = { anyOf: [definitions.KeyPublicData!, { type: "null" }] };
    this.ajv.addSchema({ $id: "nethsm", definitions });
    this.ajv.addSchema({ $id: "nethsm-request", definitions: requestDefinitions });
    this.errorResponse = this.ajv.compile({ $ref: "nethsm#/definitions/ErrorResponse" });
    const restoreArgs = this.ajv.compile({ $ref: "nethsm-request#/definitions/RestoreRequest/properties/arguments" });
    const keyArgs = this.ajv.compile({ $ref: "nethsm-request#/definitions/PrivateKeyPem/properties/arguments" });
    this.multipartArguments = new Map([["/system/restore", restoreArgs], ["/keys", keyArgs], ["/keys/{KeyID}", keyArgs]]);
    for (const [template, item] of Object.entries(spec.paths as JsonObject)) {
      if (!isObj(item)) continue;
      const sharedParams = Array.isArray(item.parameters) ? item.parameters : [];
      for (const method of ["get", "put", "post", "delete"]) {
        const op = item[method];
        if (!isObj(op)) continue;
        const params = [...sharedParams, ...(Array.isArray(op.parameters) ? op.parameters : [])];
        const pathParams = new Map<string, ValidateFunction>();
        for (const p of params) {
          if (isObj(p) && p.in === "path" && typeof p.name === "string" && p.schema !== undefined) {
            pathParams.set(p.name, this.ajv.compile(convert(p.schema) as object));
          }
        }
        this.ops.push({
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${template.replace(/[.*]/g, (c) => `\\${c}`).replace(/\\\*/g, "\\*").replace(/\{(\w+)\}/g, "(?<$1>[^/]+)")}$`),
          specificity: (template.match(/\{/g) ?? []).length,
          pathParams,
          requestBody: isObj(op.requestBody) ? this.contentMap(op.requestBody, true) : undefined,
          responses: new Map(
            Object.entries(isObj(op.responses) ? op.responses : {}).map(([code, r]) => [code, isObj(r) ? this.contentMap(r, false) : new Map()]),
          ),
        });
      }
    }
    this.ops.sort((a, b) => a.specificity - b.specificity);
  }

  private contentMap(r: JsonObject, strict: boolean): Map<string, ValidateFunction | undefined> {
    const m = new Map<string, ValidateFunction | undefined>();
    if (!isObj(r.content)) return m;
    for (const [type, media] of Object.entries(r.content)) {
      const schema = isObj(media) ? media.schema : undefined;
      m.set(type, schema !== undefined && type === "application/json" ? this.ajv.compile(convert(schema, strict) as object) : undefined);
    }
    return m;
  }

  /**
   * RestoreRequest and PrivateKeyPem: two parts, JSON `arguments` first, then the backup or PEM key
   * (notes §4.5, §4.8: order matters, names do not).
   */
  private checkMultipart(where: string, template: string, contentType: string, body: Buffer): string[] {
    const validate = this.multipartArguments.get(template);
    if (!validate) return [`${where}: no multipart schema known for ${template}`];
    let parts: Part[];
    try {
      parts = parseMultipart(body, contentType);
    } catch (e) {
      return [`${where}: multipart body: ${(e as Error).message}`];
    }
    if (parts.length !== 2) return [`${where}: multipart body needs exactly two parts, got ${parts.length}`];
    let args: unknown;
    try {
      args = JSON.parse(parts[0]!.data.toString("utf8"));
    } catch {
      return [`${where}: multipart arguments part is not JSON`];
    }
    return validate(args) ? [] : [`${where}: multipart arguments: ${this.ajv.errorsText(validate.errors)}`];
  }

  find(method: string, path: string): { op: OperationSpec; params: Record<string, string> } | undefined {
    for (const op of this.ops) {
      if (op.method !== method) continue;
      const m = op.pattern.exec(path);
      if (m) return { op, params: Object.fromEntries(Object.entries(m.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)])) };
    }
    return undefined;
  }

  /** All mismatches of one exchange (empty when it conforms). */
  check(x: ExchangeRecord, side: "request" | "response" | "both" = "both"): string[] {
    const where = `${x.method} ${x.path} → ${x.status}`;
    const found = this.find(x.method, x.path.split("?")[0]!);
    if (!found) {
      // Unknown routes answer 404 "Not found" (notes §1); a known path with another method answers 405.
      if (x.status === 404) return [];
      if (x.status === 405 && ["GET", "PUT", "POST", "DELETE"].some((m) => this.find(m, x.path.split("?")[0]!))) return [];
      return [`${where}: no such operation in the spec`];
    }
    const { op, params } = found;
    const problems: string[] = [];
    const errs = (v: ValidateFunction): string => this.ajv.errorsText(v.errors);
    if (side !== "response") {
      for (const [name, v] of op.pathParams) {
        // POST /users/{ns}~ creates a user in namespace ns; the spec's own x-test-value is "namespace3~".
        const value = op.template === "/users/{UserID}" && x.method === "POST" ? params[name]?.replace(/~$/, "") : params[name];
        if (value !== undefined && !v(value)) problems.push(`${where}: path parameter ${name}: ${errs(v)}`);
      }
      if (x.request && x.request.body.length > 0) {
        const type = x.request.contentType.split(";")[0]!.trim();
        if (!op.requestBody) problems.push(`${where}: request has a body but the spec defines none`);
        else if (!op.requestBody.has(type)) problems.push(`${where}: request content type ${type} not in the spec`);
        else if (type === "multipart/form-data") {
          problems.push(...this.checkMultipart(where, op.template, x.request.contentType, Buffer.from(x.request.body)));
        } else {
          const v = op.requestBody.get(type);
          if (v) {
            let body: unknown;
            try {
              body = JSON.parse(Buffer.from(x.request.body).toString("utf8"));
            } catch {
              problems.push(`${where}: request body is not JSON`);
            }
            if (body !== undefined && !v(body)) problems.push(`${where}: request body: ${errs(v)}`);
          }
        }
      } else if (op.requestBody && op.template !== "/system/restore") {
        // every spec'd body in this API is required
        problems.push(`${where}: request without the body the spec requires`);
      }
    }
    if (side !== "request") {
      const code = String(x.status);
      const documented = op.responses.get(code) ?? op.responses.get("default");
      if (!documented) {
        const allowed = GLOBAL_STATUSES[x.status] !== undefined || DEVIATIONS.some((d) => d.method === x.method && d.path === op.template && d.status === x.status);
        if (!allowed) problems.push(`${where}: status ${code} is not documented for ${x.method} ${op.template}`);
      }
      const type = x.responseContentType.split(";")[0]!.trim();
      if (x.responseBody.length > 0) {
        if (documented && documented.size > 0) {
          if (!documented.has(type) && !(x.status >= 400 && type === "application/json")) {
            problems.push(`${where}: response content type ${type || "(none)"} not documented`);
          }
          const v = documented.get(type) ?? (x.status >= 400 && type === "application/json" ? this.errorResponse : undefined);
          if (v) {
            let body: unknown;
            try {
              body = JSON.parse(Buffer.from(x.responseBody).toString("utf8"));
              if (!v(body)) problems.push(`${where}: response body: ${errs(v)}`);
            } catch {
              problems.push(`${where}: response body is not JSON`);
            }
          }
        } else if (x.status >= 400 && type === "application/json") {
          // handler errors carry {"message"} even where the spec documents no body (notes §1)
          let body: unknown;
          try {
            body = JSON.parse(Buffer.from(x.responseBody).toString("utf8"));
          } catch {
            body = undefined;
          }
          if (!this.errorResponse(body)) problems.push(`${where}: error body is not {"message": string}`);
        } else {
          problems.push(`${where}: response has a body (${type || "no type"}) but the spec documents none`);
        }
      } else if (documented && documented.size > 0 && x.status < 300) {
        problems.push(`${where}: response without the documented body`);
      }
    }
    return problems;
  }
}

/** Collects problems across a test run. */
export class ConformanceRecorder {
  readonly problems: string[] = [];
  requests = 0;
  responses = 0;
  readonly statuses = new Map<string, Set<number>>();
  constructor(readonly validator: OpenApiValidator = new OpenApiValidator()) {}

  private readonly allowed: RegExp[] = [];

  /** Announced problems that never happened (a test expected an invalid request that was not flagged). */
  get unconsumed(): string[] {
    return this.allowed.map((re) => `expected but not seen: ${re.source}`);
  }

  /** A test that deliberately sends one invalid request announces the problem it expects. */
  allowOnce(problem: RegExp): void {
    this.allowed.push(problem);
  }

  record(x: ExchangeRecord, side: "request" | "response" | "both"): void {
    if (side !== "response") this.requests++;
    if (side !== "request") {
      this.responses++;
      const found = this.validator.find(x.method, x.path.split("?")[0]!);
      const key = `${x.method} ${found?.op.template ?? x.path}`;
      if (!this.statuses.has(key)) this.statuses.set(key, new Set());
      this.statuses.get(key)!.add(x.status);
    }
    for (const p of this.validator.check(x, side)) {
      const i = this.allowed.findIndex((re) => re.test(p));
      if (i >= 0) this.allowed.splice(i, 1);
      else this.problems.push(p);
    }
  }
}
