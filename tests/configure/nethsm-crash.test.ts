/**
 * Crash safety of signstar-configure on the NetHSM stand-in: killed (SIGKILL) at every NetHSM crash point of a
 * first run and of a later run that adds a signing user, then run again: it converges and every signing user
 * signs over SSH.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CRASH_POINTS } from "../../lib/configure/crash.js";
import { startSharesHost, type SharesHost } from "../support/shares-host.js";
import { crashThenConverge, signOverSsh } from "./helpers.js";

let host: SharesHost;
let work: string;

beforeAll(async () => {
  host = await startSharesHost({ backend: "nethsm", signers: [{ name: "alice", kind: "ed25519" }, { name: "bob", kind: "p256" }] });
  work = await mkdtemp(join(tmpdir(), "signstar-nethsm-crash-"));
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const NETHSM_POINTS = CRASH_POINTS.filter((p) => p.startsWith("nethsm:"));


async function expectSigns(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const s = await signOverSsh(host, name, work);
    expect(s.stderr, `${name} signs`).toBe("");
    expect(s.code).toBe(0);
  }
}

it("there are four NetHSM crash points", () => {
  expect(NETHSM_POINTS).toEqual(["nethsm:after-provision", "nethsm:after-next-written", "nethsm:after-passphrase-set", "nethsm:after-key"]);
});

describe("first run", () => {
  for (const point of NETHSM_POINTS) {
    it(`converges after a crash at ${point}`, async () => {
      await host.reset();
      await host.writeConfig({ iteration: 1, signers: ["alice"] });
      await crashThenConverge(host, point);
      await expectSigns(["alice"]);
    });
  }
});

describe("later run adding a signing user (admin secret from undownloaded shares)", () => {
  for (const point of NETHSM_POINTS.filter((p) => p !== "nethsm:after-provision")) {
    it(`converges after a crash at ${point}`, async () => {
      await host.reset();
      await host.writeConfig({ iteration: 1, signers: ["alice"] });
      expect((await host.configure()).code).toBe(0);
      await host.writeConfig({ iteration: 1, signers: ["alice", "bob"] });
      await crashThenConverge(host, point);
      await expectSigns(["alice", "bob"]);
    });
  }
});
