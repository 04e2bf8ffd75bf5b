import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { verify } from "node:crypto";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPkcs11Admin } from "../../../lib/backends/pkcs11/index.js";
import type { PublicKey } from "../../../lib/signing/signer.js";
import { type SoftHsm, createSoftHsm } from "../../support/softhsm.js";
import { SIGN_CHILD, keyObjectOf, rawSignature, runSignChild, setupFor, type ChildResult } from "./helpers.js";

/** A sign-child in gated mode: `reached(line)` resolves when it printed that barrier line. */
interface GatedChild {
  readonly process: ChildProcessWithoutNullStreams;
  reached(line: "ready" | "half"): Promise<void>;
  readonly result: Promise<ChildResult>;
}

function startGatedChild(input: object, env: Record<string, string>, timeoutMs = 120_000): GatedChild {
  if (!existsSync(SIGN_CHILD)) throw new Error(`${SIGN_CHILD} is missing: run "npm run build" first`);
  const started = Date.now();
  const child = spawn(process.execPath, [SIGN_CHILD], { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const waiters: { line: string; resolve: () => void }[] = [];
  const check = (): void => {
    const seen = stdout.split("\n");
    for (const w of waiters.splice(0)) {
      if (seen.includes(w.line)) w.resolve();
      else waiters.push(w);
    }
  };
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    check();
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const result = new Promise<ChildResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  child.stdin.write(`${JSON.stringify({ ...input, gate: true })}\n`);
  return {
    process: child,
    result,
    reached: (line) =>
      Promise.race([
        new Promise<void>((resolve) => {
          waiters.push({ line, resolve });
          check();
        }),
        // A child that dies before the barrier must fail the test, not hang it.
        result.then((r) => {
          throw new Error(`sign-child ended (code ${r.code}, signal ${r.signal}) before "${line}": ${r.stderr.trim()}`);
        }),
      ]),
  };
}

describe("two processes signing with the same token at the same time", () => {
  let hsm: SoftHsm;
  let publicKey: PublicKey;

  beforeAll(async () => {
    hsm = await createSoftHsm();
    hsm.activate();
    const admin = await openPkcs11Admin({ module: hsm.module, token: { label: "signstar" }, userPin: hsm.token.userPin });
    try {
      publicKey = await admin.generateKey("label:shared", setupFor("Curve25519"));
    } finally {
      await admin.close();
    }
  });
  afterAll(async () => {
    await hsm?.cleanup();
  });

  it("both succeed and every signature verifies", async () => {
    const input = { module: hsm.module, token: { label: "signstar" }, key: { label: "shared" }, pin: hsm.token.userPin, count: 2000 };
    // Both children open the key, then wait; both are released together, and again at half-way only when both
    // got there: each loop is running (started, not finished) while the other one is, whatever the machine's load.
    const children = [startGatedChild(input, hsm.env), startGatedChild(input, hsm.env)];
    try {
      await Promise.all(children.map((c) => c.reached("ready")));
      for (const c of children) c.process.stdin.write("go\n");
      await Promise.all(children.map((c) => c.reached("half")));
      for (const c of children) c.process.stdin.end("go\n");
    } catch (e) {
      for (const c of children) c.process.kill("SIGKILL");
      throw e;
    }
    const results = await Promise.all(children.map((c) => c.result));
    const outputs = results.map((r) => {
      const lines = r.stdout.split("\n");
      expect(lines.slice(0, 2)).toEqual(["ready", "half"]);
      return JSON.parse(lines.slice(2).join("\n")) as { kind: string; started: number; finished: number; signatures: { digest: string; mpis: string[] }[] };
    });
    // The two signing loops really ran at the same time (each started before the other finished).
    expect(Math.max(outputs[0]!.started, outputs[1]!.started)).toBeLessThan(Math.min(outputs[0]!.finished, outputs[1]!.finished));
    for (const [i, r] of results.entries()) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const out = outputs[i]!;
      expect(out.signatures.length).toBe(2000);
      for (const s of out.signatures) {
        const sig = rawSignature(publicKey, s.mpis.map((m) => Buffer.from(m, "hex")));
        expect(verify(null, Buffer.from(s.digest, "hex"), keyObjectOf(publicKey), sig)).toBe(true);
      }
    }
  });

  it("many short-lived processes opening the token at once all succeed (SoftHSM rewrites its token file on login)", async () => {
    const input = { module: hsm.module, token: { label: "signstar" }, key: { label: "shared" }, pin: hsm.token.userPin, count: 1 };
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(Array.from({ length: 16 }, () => runSignChild(input, hsm.env)));
      expect(results.map((r) => r.stderr).filter((e) => e !== "")).toEqual([]);
      expect(results.map((r) => r.code)).toEqual(Array(16).fill(0));
    }
  });
});
