/** The stand-in starts by hand: `node dist/tests/support/nethsm-standin/main.js --port N` (needs `npm run build`). */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NetHsmClient } from "../../../lib/backends/nethsm/index.js";
import { connection } from "./harness.js";

const MAIN = join(import.meta.dirname, "../../../dist/tests/support/nethsm-standin/main.js");

describe("stand-in executable", () => {
  it("prints its URL and certificate fingerprint, serves the API, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [MAIN, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const out = await new Promise<string>((resolve, reject) => {
        let text = "";
        const timer = setTimeout(() => reject(new Error(`no banner: ${text}`)), 20_000);
        child.stdout.on("data", (c: Buffer) => {
          text += c.toString();
          if (/sha256 [0-9a-f]{64}\n/.test(text)) {
            clearTimeout(timer);
            resolve(text);
          }
        });
        child.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      const url = /listening on (https:\/\/127\.0\.0\.1:\d+\/api\/v1)/.exec(out)![1]!;
      const fp = /sha256 ([0-9a-f]{64})/.exec(out)![1]!;
      const c = new NetHsmClient({ connections: [connection(url, { kind: "Fingerprints", sha256: [fp] })] });
      try {
        expect(await c.state()).toBe("Unprovisioned");
      } finally {
        c.close();
      }
    } finally {
      child.kill("SIGTERM");
    }
    const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once("exit", (c) => r(c))));
    expect(code).toBe(0);
  });

  it("refuses a bad --port with exit code 2", async () => {
    const child = spawn(process.execPath, [MAIN, "--port", "nope"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toBe("invalid --port nope\n");
  });
});
