/**
 * Issue 17.6: staged shares at rest. Over real sshd with the share tools running as the holders:
 *   - what staging writes to persistent disk (the share store, the holders' spools) is sealed, never the share;
 *   - after a simulated reboot (the tmpfs /run/signstar gone, and with it the keys) a share not yet downloaded is
 *     lost, and the download and signstar-configure say so in one line;
 *   - a re-split keeps the previous set until a threshold of the new set is confirmed: when the new shares were
 *     lost (a reboot, also right after a crash at each crash point of staging and delivery), the holders upload
 *     their previous shares and signstar-configure recovers the admin secret and splits it anew; once the new set
 *     is confirmed the previous one is retired and its shares are refused.
 */
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CRASH_ENV, type CrashPoint } from "../../lib/configure/crash.js";
import { ExitCode } from "../../lib/errors.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { confirmationCode } from "../../lib/secrets/share-claim.js";
import { parseShareLine } from "../../lib/secrets/shares/index.js";
import { filesBelow } from "../support/host-kit.js";
import { startSharesHost, type HostUser, type SharesHost } from "../support/shares-host.js";

let host: SharesHost;

beforeAll(async () => {
  host = await startSharesHost({ signers: [{ name: "alice", kind: "p256" }] });
}, 120_000);

afterAll(async () => {
  await host?.stop();
});

/** The persistent places a staged share could be: the state below the root and the holders' homes. */
async function persistentFiles(): Promise<string[]> {
  const dirs = [join(host.root, "var"), ...host.holders.flatMap((h) => [hostLayout(host.root).home(h.user), hostLayout().home(h.user)])];
  return (await Promise.all(dirs.map(filesBelow))).flat();
}

/** What a reboot does to /run/signstar: it is a tmpfs, so it comes back empty (tmpfiles.d remakes the directories). */
async function reboot(): Promise<void> {
  await rm(join(host.root, "run/signstar/share-keys"), { recursive: true, force: true });
  for (const h of host.holders) await rm(join(host.root, "run/signstar/share-uploads", h.user, "share"), { force: true });
}

async function configureOk(): Promise<string> {
  const r = await host.configure();
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

async function download(h: HostUser): Promise<string> {
  const r = await host.ssh(h);
  expect(r.stderr).toMatch(/stays on this host until you confirm/);
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

async function downloadAndConfirm(h: HostUser): Promise<string> {
  const line = await download(h);
  const c = await host.ssh(h, { command: ["confirm", confirmationCode(line)] });
  expect(c.code).toBe(0);
  return line;
}

async function upload(h: HostUser, line: string): Promise<string> {
  const r = await host.ssh(h, { command: ["upload"], input: `${line}\n` });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

async function record(): Promise<{ record: { setId: string }; previous?: { record: { setId: string } } }> {
  return JSON.parse(await readFile(hostLayout(host.root).shareRecord, "utf8")) as { record: { setId: string }; previous?: { record: { setId: string } } };
}

describe("staged shares are sealed at rest (issue 17.6)", () => {
  it("no persistent file holds a share, before or after the download; the keys are in /run only", async () => {
    await host.reset();
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    await configureOk();
    const { record: r } = await record();
    const keys = await filesBelow(join(host.root, "run/signstar/share-keys", r.setId));
    expect(keys.map((k) => k.split("/").pop()).sort()).toEqual(host.holders.map((h) => `${h.user}.key`).sort());
    for (const k of keys) expect((await stat(k)).mode & 0o777).toBe(0o640);
    const lines: string[] = [];
    for (const h of host.holders) lines.push(await download(h));
    const persistent = await persistentFiles();
    expect(persistent.some((p) => p.endsWith(`${r.setId}.claimed`))).toBe(true);
    for (const p of persistent) {
      const text = await readFile(p, "latin1");
      expect(text, p).not.toContain("signstar-share-v1:");
      for (const line of lines) expect(text, p).not.toContain(parseShareLine(line).data);
    }
  });

  it("after a reboot a share not yet downloaded is lost: the download and configure say so", async () => {
    await host.reset();
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    await configureOk();
    await reboot();
    const r = await host.ssh(host.holders[0]!);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^signstar-download-secret-share: share of user \S+ in set [0-9a-f]{16} was sealed under a key kept only in \S+\/run\/signstar\/share-keys, which is gone \(the host restarted after it was staged\): it cannot be recovered; .*\n$/);
    expect(r.code).toBe(ExitCode.Secret);
    // Signing needs no admin secret: the run goes on and says what was lost.
    const out = await configureOk();
    expect(out).toMatch(/^info: the undownloaded shares of \S+, \S+, \S+ in set [0-9a-f]{16} were lost with \/run \(the host restarted before they were downloaded; docs\/shares.md\)$/m);
  });
});

describe("the previous share set is kept until the new one is confirmed (issue 17.6)", () => {
  /** A confirmed set (iteration 1), two uploads, then iteration 2 re-splits: returns the iteration-1 shares. */
  async function confirmedThenResplit(env: Readonly<Record<string, string>> = {}): Promise<string[]> {
    await host.reset();
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    await configureOk();
    const old: string[] = [];
    for (const h of host.holders) old.push(await downloadAndConfirm(h));
    for (const i of [0, 1]) await upload(host.holders[i]!, old[i]!);
    await host.writeConfig({ iteration: 2, signers: ["alice"] });
    const r = await host.configure([], env);
    if (env[CRASH_ENV] === undefined) expect(r.code).toBe(0);
    else expect(r.signal).toBe("SIGKILL");
    return old;
  }

  it("a reboot loses the new shares: the previous set's uploads recover the secret, a new split follows; confirmation retires the previous set", async () => {
    const old = await confirmedThenResplit();
    const rec = await record();
    const oldId = parseShareLine(old[0]!).setId;
    expect(rec.previous?.record.setId).toBe(oldId);
    const published = JSON.parse(await readFile(hostLayout(host.root).publicShareSet, "utf8")) as { previous?: { setId: string } };
    expect(published.previous?.setId).toBe(oldId);
    await reboot();
    expect((await host.ssh(host.holders[0]!)).code).toBe(ExitCode.Secret);

    for (const i of [0, 2]) expect(await upload(host.holders[i]!, old[i]!)).toMatch(new RegExp(`^share ${i + 1} of set ${oldId} accepted: `));
    const out = await configureOk();
    expect(out).toMatch(new RegExp(`^info: admin credentials: combined from 2 shares of the previous set ${oldId} `, "m"));
    const now = await record();
    expect(now.record.setId).not.toBe(rec.record.setId);
    expect(now.previous?.record.setId).toBe(oldId); // the lost set was never confirmed: the old one stays

    const fresh: string[] = [];
    for (const h of host.holders.slice(0, 2)) fresh.push(await downloadAndConfirm(h));
    expect(parseShareLine(fresh[0]!).iteration).toBe(2);
    const retired = await configureOk();
    expect(retired).toMatch(new RegExp(`^info: retired the previous share set ${oldId}: 2 holders of set ${now.record.setId} confirmed their shares$`, "m"));
    expect((await record()).previous).toBeUndefined();
    const refused = await host.ssh(host.holders[0]!, { command: ["upload"], input: `${old[0]!}\n` });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/belongs to config iteration 1/);
  });

  for (const point of ["admin:after-stage", "shares:after-claim", "shares:after-deliver"] as CrashPoint[]) {
    it(`killed at ${point} while re-splitting, then a reboot: the previous set still recovers the secret`, async () => {
      const old = await confirmedThenResplit({ [CRASH_ENV]: point });
      const oldId = parseShareLine(old[0]!).setId;
      const rec = await record();
      expect(rec.record.setId).not.toBe(oldId);
      expect(rec.previous?.record.setId).toBe(oldId);
      await reboot();
      for (const i of [1, 2]) await upload(host.holders[i]!, old[i]!);
      const out = await configureOk();
      expect(out).toMatch(new RegExp(`combined from 2 shares of the previous set ${oldId} `));
      const line = await download(host.holders[0]!);
      expect(parseShareLine(line).iteration).toBe(2);
    });
  }
});
