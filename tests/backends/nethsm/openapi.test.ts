/** The conformance checker itself: it must flag mismatches, or the other tests prove nothing. */
import { describe, expect, it } from "vitest";
import { OpenApiValidator } from "./openapi.js";

const v = new OpenApiValidator();
const json = (o: unknown): Uint8Array => Buffer.from(JSON.stringify(o));

describe("OpenAPI validator", () => {
  it("accepts a conforming exchange", () => {
    expect(v.check({ method: "GET", path: "/health/state", status: 200, responseContentType: "application/json", responseBody: json({ state: "Locked" }) })).toEqual([]);
    expect(
      v.check({
        method: "POST",
        path: "/keys/k1/sign",
        request: { contentType: "application/json", body: json({ mode: "EdDSA", message: "AAAA" }) },
        status: 200,
        responseContentType: "application/json",
        responseBody: json({ signature: "AAAA" }),
      }),
    ).toEqual([]);
  });

  it("flags a bad response body, an undocumented status, and a body where none is documented", () => {
    expect(v.check({ method: "GET", path: "/health/state", status: 200, responseContentType: "application/json", responseBody: json({ state: "Bogus" }) })[0]).toMatch(
      /^GET \/health\/state → 200: response body: data\/state must be equal to one of the allowed values/,
    );
    expect(v.check({ method: "POST", path: "/keys/k1/sign", status: 418, responseContentType: "", responseBody: new Uint8Array() }, "response")).toEqual([
      "POST /keys/k1/sign → 418: status 418 is not documented for POST /keys/{KeyID}/sign",
    ]);
    expect(v.check({ method: "POST", path: "/lock", status: 204, responseContentType: "text/plain", responseBody: Buffer.from("x") })).toEqual([
      "POST /lock → 204: response has a body (text/plain) but the spec documents none",
    ]);
    expect(v.check({ method: "GET", path: "/keys/k1", status: 200, responseContentType: "application/json", responseBody: json({ type: "RSA" }) })[0]).toContain(
      "must have required property 'mechanisms'",
    );
  });

  it("flags bad requests: unknown property, wrong type, missing body, bad path id", () => {
    const base = { status: 204, responseContentType: "", responseBody: new Uint8Array() };
    expect(v.check({ ...base, method: "POST", path: "/unlock", request: { contentType: "application/json", body: json({ passphrase: "0123456789" }) } }, "request")).toEqual([]);
    // "Additional properties will cause a Bad Request Error (400)": request schemas are closed
    expect(v.check({ ...base, method: "POST", path: "/unlock", request: { contentType: "application/json", body: json({ passphrase: "0123456789", x: 1 }) } }, "request")).toEqual([
      "POST /unlock → 204: request body: data must NOT have additional properties",
    ]);
    expect(
      v.check({ ...base, method: "POST", path: "/keys/generate", request: { contentType: "application/json", body: json({ type: "RSA", mechanisms: [], restrictions: { tags: [], x: 1 } }) } }, "request"),
    ).toEqual(["POST /keys/generate → 204: request body: data/restrictions must NOT have additional properties"]);
    expect(v.check({ ...base, method: "POST", path: "/random", request: { contentType: "application/json", body: json({ length: "5" }) } }, "request")[0]).toContain(
      "request body: data/length must be integer",
    );
    expect(v.check({ ...base, method: "POST", path: "/unlock" }, "request")).toEqual(["POST /unlock → 204: request without the body the spec requires"]);
    expect(v.check({ ...base, method: "DELETE", path: "/keys/_bad" }, "request")[0]).toContain("path parameter KeyID: data must match pattern");
    expect(v.check({ ...base, method: "PUT", path: "/keys/k/cert", request: { contentType: "text/plain", body: Buffer.from("x") } }, "request")).toEqual([
      "PUT /keys/k/cert → 204: request content type text/plain not in the spec",
    ]);
  });

  it("checks the multipart restore arguments", () => {
    const body = (args: string) =>
      Buffer.from(`--b\r\nContent-Disposition: form-data; name="arguments"\r\n\r\n${args}\r\n--b\r\nContent-Disposition: form-data; name="backup_file"\r\n\r\nxx\r\n--b--\r\n`);
    const x = (args: string) => ({ method: "POST", path: "/system/restore", request: { contentType: "multipart/form-data; boundary=b", body: body(args) }, status: 204, responseContentType: "", responseBody: new Uint8Array() });
    expect(v.check(x('{"backupPassphrase":"0123456789"}'))).toEqual([]);
    expect(v.check(x('{"backupPassphrase":"short"}'))).toEqual([
      "POST /system/restore → 204: multipart arguments: data/backupPassphrase must NOT have fewer than 10 characters",
    ]);
    expect(v.check(x('{"systemTime":"yesterday"}'))[0]).toContain('data/systemTime must match format "date-time"');
  });

  it("knows the documented deviations and nothing more", () => {
    const r = (method: string, path: string, status: number) => v.check({ method, path, status, responseContentType: "", responseBody: new Uint8Array() }, "response");
    expect(r("POST", "/system/restore", 401)).toEqual([]);
    expect(r("GET", "/keys", 429)).toEqual([]);
    expect(r("PUT", "/keys/k/cert", 404)).toEqual([]);
    expect(r("GET", "/keys", 409)).toEqual(["GET /keys → 409: status 409 is not documented for GET /keys"]);
    expect(r("PATCH", "/keys", 200)).toEqual(["PATCH /keys → 200: no such operation in the spec"]);
  });
});
