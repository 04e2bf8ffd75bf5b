/**
 * Device behaviour at the edges (as keyfender answers, Nitrokey/nethsm 4e192fb9) and how the client maps every error status to a
 * one-line message. Responses are validated against the spec here too.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetHsmClient, NetHsmHttpError, statusText } from "../../../lib/backends/nethsm/index.js";
import { ADMIN, errorOf, raw, startHarness, UNLOCK, type Harness } from "./harness.js";

let h: Harness;
let admin: NetHsmClient;
const OP = { user: "op", passphrase: "operator-pass-1" };

/**
 * The stand-in's rate limiter runs on this clock: it stands still unless a test moves it, so "within the 1 s
 * window" and "after it" do not depend on how fast the machine is.
 */
const clock = { ms: 1_000_000 };
const advance = (ms: number): void => {
  clock.ms += ms;
};

beforeAll(async () => {
  h = await startHarness({ now: () => clock.ms });
  await h.client().provision({ unlockPassphrase: UNLOCK, adminPassphrase: ADMIN, systemTime: new Date() });
  admin = h.client({ user: "admin", passphrase: ADMIN });
  await admin.addUser({ userId: "op", realName: "op", role: "Operator", passphrase: OP.passphrase });
  await admin.generateKey({ id: "k", type: "Curve25519", mechanisms: ["EdDSA_Signature"] });
});

afterAll(async () => {
  await h.close();
  expect(h.rec.problems).toEqual([]);
  expect(h.rec.unconsumed).toEqual([]);
});

describe("authentication", () => {
  it("401 without credentials: empty body and WWW-Authenticate realm NetHSM", async () => {
    const r = await raw(h, "GET", "/keys");
    expect(r.status).toBe(401);
    expect(r.body).toBe("");
    expect(r.headers["www-authenticate"]).toBe('Basic realm="NetHSM"');
  });

  it("401 with a wrong passphrase, then 429 for 1 s even with the right one; the message never has the passphrase", async () => {
    const bad = h.client({ user: "op", passphrase: "wrong-secret-value" });
    const e1 = await errorOf(() => bad.listKeys());
    expect((e1 as NetHsmHttpError).status).toBe(401);
    expect(e1.message).toBe(`NetHSM ${h.standIn.url} as op: GET /keys: 401 authentication failed (unknown user or wrong passphrase)`);
    expect(e1.message).not.toContain("wrong-secret-value");
    const good = h.client(OP);
    const e2 = await errorOf(() => good.listKeys());
    expect((e2 as NetHsmHttpError).status).toBe(429);
    expect(e2.message).toBe(`NetHSM ${h.standIn.url} as op: GET /keys: 429 too many requests (a login failed less than 1 s ago): Too many requests`);
    // another user is not limited
    expect(await admin.listKeys()).toEqual(["k"]);
    // still limited 1 ms before the window ends, free again when it has passed
    advance(999);
    expect(((await errorOf(() => good.listKeys())) as NetHsmHttpError).status).toBe(429);
    advance(1);
    expect(await good.listKeys()).toEqual(["k"]);
  });

  it("403 with an empty body for the wrong role (exact role check)", async () => {
    const r = await raw(h, "POST", "/keys/k/sign", { auth: { user: "admin", passphrase: ADMIN }, headers: { "Content-Type": "application/json" }, body: '{"mode":"EdDSA","message":"AA=="}' });
    expect(r.status).toBe(403);
    expect(r.body).toBe("");
    const e = await errorOf(() => admin.random(4));
    expect(e.message).toBe(`NetHSM ${h.standIn.url} as admin: POST /random: 403 access denied (wrong role, namespace, tag restriction or passphrase)`);
  });
});

describe("request validation", () => {
  it("strict JSON: an unknown field is a 400 with a {message}", async () => {
    const r = await raw(h, "POST", "/keys/k/sign", { auth: OP, headers: { "Content-Type": "application/json" }, body: '{"mode":"EdDSA","message":"AA==","extra":1}' });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ message: "Invalid data for JSON schema: unknown field extra" });
    const missing = await raw(h, "POST", "/keys/k/sign", { auth: OP, headers: { "Content-Type": "application/json" }, body: '{"mode":"EdDSA"}' });
    expect(JSON.parse(missing.body).message).toBe("Invalid data for JSON schema: missing field message");
  });

  it("405 with Allow, 415 for a wrong content type, 406 for a wrong Accept, 413 for a large body", async () => {
    const m = await raw(h, "DELETE", "/info");
    expect(m.status).toBe(405);
    expect(m.headers.allow).toBe("GET");
    const t = await raw(h, "PUT", "/keys/k/cert", { auth: { user: "admin", passphrase: ADMIN }, headers: { "Content-Type": "text/plain" }, body: "x" });
    expect(t.status).toBe(415);
    const a = await raw(h, "GET", "/keys/k", { auth: OP, headers: { Accept: "text/html" } });
    expect(a.status).toBe(406);
    const big = await raw(h, "PUT", "/users/big", { auth: { user: "admin", passphrase: ADMIN }, headers: { "Content-Type": "application/json" }, body: Buffer.alloc(1024 * 1024 + 1, 0x20) });
    expect(big.status).toBe(413);
  });

  it("unknown routes give 404 'Not found' in any state; bad ids give 400", async () => {
    const r = await raw(h, "GET", "/nothing/here");
    expect(r.status).toBe(404);
    expect(r.body).toBe("Not found");
    h.rec.allowOnce(/^GET \/keys\/bad%20id! → 400: path parameter KeyID/);
    const e = await errorOf(() => admin.getKey("bad id!"));
    expect(e.message).toContain("400 bad request: ID may only contain alphanumeric characters, underscores, dashes, and dots.");
  });

  it("POST /users/{id} without a trailing ~ is a 400", async () => {
    const r = await raw(h, "POST", "/users/xyz", { auth: { user: "admin", passphrase: ADMIN }, headers: { "Content-Type": "application/json" }, body: '{"realName":"a","role":"Operator","passphrase":"0123456789"}' });
    expect(r.status).toBe(400);
  });
});

describe("error status messages", () => {
  it("every status has a distinct explanation", () => {
    const codes = [400, 401, 403, 404, 405, 406, 409, 412, 413, 415, 429, 500];
    const texts = codes.map(statusText);
    expect(new Set(texts).size).toBe(codes.length);
    expect(statusText(299)).toBe("unexpected status");
  });

  it("errors are one line and include the device message", async () => {
    const e = await errorOf(() => admin.getKey("missing"));
    expect(e.message).toBe(`NetHSM ${h.standIn.url} as admin: GET /keys/missing: 404 not found`);
    expect(e.message).not.toMatch(/\n/);
    expect((e as NetHsmHttpError).exitCode).toBe(7);
  });

  it("the unlock endpoint has its own 1 s bucket after a failure", async () => {
    await admin.lock();
    const anon = h.client();
    const e1 = await errorOf(() => anon.unlock("wrong-unlock-passphrase"));
    expect(e1.message).toContain("POST /unlock: 403 access denied (wrong role, namespace, tag restriction or passphrase): not authenticated");
    expect(e1.message).not.toContain("wrong-unlock-passphrase");
    const e2 = await errorOf(() => anon.unlock(UNLOCK));
    expect(e2.message).toContain("POST /unlock: 429 too many requests (a login failed less than 1 s ago): Service unavailable: too many requests");
    advance(999);
    expect(((await errorOf(() => anon.unlock(UNLOCK))) as NetHsmHttpError).status).toBe(429);
    expect(await anon.state()).toBe("Locked");
    advance(1);
    await anon.unlock(UNLOCK);
    expect(await anon.state()).toBe("Operational");
  });
});
