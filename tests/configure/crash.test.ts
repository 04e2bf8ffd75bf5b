/**
 * Crash safety of signstar-configure on SoftHSM: the run is killed with SIGKILL at every crash point
 * (SIGNSTAR_CONFIGURE_CRASH_AT, see lib/configure/crash.ts), then run again; it must converge and every
 * signing user must be able to sign over SSH, and the shareholders must be able to fetch their shares.
 *   A: the first run (unprovisioned token, new share set);
 *   B: a later run with uploaded shares that adds a signing user and increases the iteration (re-split).
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CRASH_POINTS, type CrashPoint } from "../../lib/configure/crash.js";
import { parseShareLine } from "../../lib/secrets/shares/index.js";
import { startSharesHost, type SharesHost } from "../support/shares-host.js";
import { crashThenConverge, signOverSsh } from "./helpers.js";
import { confirmationCode } from "../../lib/secrets/share-claim.js";

let host: SharesHost;
let work: string;

beforeAll(async () => {
  host = await startSharesHost({ signers: [{ name: "alice", kind: "ed25519" }, { name: "bob", kind: "p256" }] });
  work = await mkdtemp(join(tmpdir(), "signstar-crash-"));
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function expectSigns(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const s = await signOverSsh(host, name, work);
    expect(s.stderr, `${name} signs`).toBe("");
    expect(s.code).toBe(0);
  }
}

/**
 * Every crash point a SoftHSM-only run reaches (the NetHSM ones are nethsm-crash.test.ts's; the signing log's,
 * reached only with signing_log set, tests/integration/production-flow.test.ts's).
 */
const FIRST_RUN: CrashPoint[] = CRASH_POINTS.filter((p) => !p.startsWith("nethsm:") && !p.startsWith("apply:") && !p.startsWith("log:") && p !== "uploads:before-wipe");

/** A later run, which also uses uploaded shares, reaches every non-NetHSM point. */
const LATER_RUN: CrashPoint[] = [...FIRST_RUN, "uploads:before-wipe"];

describe("A: killed during the first run, then run again", () => {
  for (const point of FIRST_RUN) {
    it(`converges after a crash at ${point}`, async () => {
      await host.reset();
      await host.writeConfig({ iteration: 1, signers: ["alice", "bob"] });
      await crashThenConverge(host, point);
      await expectSigns(["alice", "bob"]);
      const r = await host.ssh(host.holders[0]!);
      expect(r.code).toBe(0);
      expect(parseShareLine(r.stdout.trim()).index).toBe(1);
    });
  }
});

describe("B: killed during a run that uses uploaded shares, adds a user and increases the iteration", () => {
  for (const point of LATER_RUN) {
    it(`converges after a crash at ${point}`, async () => {
      await host.reset();
      await host.writeConfig({ iteration: 1, signers: ["alice"] });
      expect((await host.configure()).code).toBe(0);
      const shares: string[] = [];
      for (const h of host.holders) {
        const line = (await host.ssh(h)).stdout.trim();
        shares.push(line);
        expect((await host.ssh(h, { command: ["confirm", confirmationCode(line)] })).code).toBe(0);
      }
      for (const i of [0, 2]) {
        const up = await host.ssh(host.holders[i]!, { command: ["upload"], input: shares[i]! });
        expect(up.code).toBe(0);
      }
      await host.writeConfig({ iteration: 2, signers: ["alice", "bob"] });
      await crashThenConverge(host, point);
      await expectSigns(["alice", "bob"]);
      for (const h of host.holders) expect(await readdir(join(host.root, "run/signstar/share-uploads", h.user))).toEqual([]);
      const r = await host.ssh(host.holders[1]!);
      expect(r.code).toBe(0);
      expect(parseShareLine(r.stdout.trim()).iteration).toBe(2);
    });
  }
});
