/**
 * Issue 17.5: the p11-kit server's unit runs as its own user and is sandboxed; `systemd-analyze security
 * --offline=yes` (systemd 252, Debian 12) rates its exposure. The end-to-end run of the unit as that user is
 * tests/integration/p11kit-user.test.ts.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { P11_KIT_USER } from "../../../lib/config/token-access.js";
import { unitSettings } from "../../support/p11kit.js";
import { REPO_ROOT } from "../../support/repo.js";

const run = promisify(execFile);
/** systemd-analyze's scale is 0.0 (safe) to 10.0; --threshold takes tenths. The unit before issue 17.5 rated 7.7, this one 0.4; the same sandbox as root 0.7. */
const MAX_EXPOSURE = 0.5;

let dir: string;
let unit: string;

/** The overall exposure systemd-analyze gives `text` (as an instance, as systemd would load it) and its exit code. */
async function exposure(text: string): Promise<{ level: number; code: number }> {
  const path = join(dir, "p11-kit-signstar@0.service");
  await writeFile(path, text);
  const r = await run("systemd-analyze", ["security", "--offline=yes", `--threshold=${Math.round(MAX_EXPOSURE * 10)}`, "--no-pager", path], {
    env: { ...process.env, SYSTEMD_COLORS: "0" },
  }).then(
    (x) => ({ out: x.stdout, code: 0 }),
    (e: { stdout?: string; code?: number }) => ({ out: e.stdout ?? "", code: e.code ?? -1 }),
  );
  const m = /Overall exposure level for p11-kit-signstar@0\.service: (\d+\.\d)/.exec(r.out);
  if (m === null) throw new Error(`no exposure level in: ${r.out.slice(-500)}`);
  return { level: Number(m[1]), code: r.code };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-p11kit-unit-"));
  unit = await readFile(join(REPO_ROOT, "systemd/p11-kit-signstar@.service"), "utf8");
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("p11-kit-signstar@.service (issue 17.5)", () => {
  it("runs as its own system user, not root", () => {
    const svc = unitSettings(unit, "Service");
    expect(svc.get("User")).toEqual([P11_KIT_USER]);
    expect(svc.get("Group")).toEqual([P11_KIT_USER]);
    expect(svc.has("DynamicUser")).toBe(false);
    expect(svc.get("CapabilityBoundingSet")).toEqual([""]);
    expect(svc.get("PrivateNetwork")).toEqual(["yes"]);
    expect(svc.get("RestrictAddressFamilies")).toEqual(["AF_UNIX"]);
    expect(svc.get("ProtectSystem")).toEqual(["strict"]);
    expect(svc.get("NoNewPrivileges")).toEqual(["yes"]);
  });

  it(`systemd-analyze security --offline rates it at most ${MAX_EXPOSURE} (and --threshold passes)`, async () => {
    const { level, code } = await exposure(unit);
    expect(level).toBeLessThanOrEqual(MAX_EXPOSURE);
    expect(code).toBe(0);
  });

  it("the check can fail: the same unit running as root is rated above the threshold", async () => {
    const asRoot = unit.replace(/^User=.*\n/m, "").replace(/^Group=.*\n/m, "");
    const { level, code } = await exposure(asRoot);
    expect(level).toBeGreaterThan(MAX_EXPOSURE);
    expect(code).not.toBe(0);
  });
});
