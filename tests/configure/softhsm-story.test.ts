/**
 * The whole Shamir story on SoftHSM, through real sshd and the compiled executables:
 * unprovisioned (no token) → signstar-configure → three shareholders download over SSH (once) → the host holds
 * no admin secret → negatives → two of three upload over SSH → signstar-configure applies a changed config
 * (iteration 2, one more signing user) → that user signs over SSH → gpg verifies.
 */
import { execFile } from "node:child_process";
import { lstat, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAdminCredentials } from "../../lib/secrets/admin-credentials.js";
import { ShareStore } from "../../lib/secrets/share-store.js";
import { combineShares, formatShareLine, parseShareLine, verifyShare } from "../../lib/secrets/shares/index.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { confirmationCode } from "../../lib/secrets/share-claim.js";
import { startSharesHost, type SharesHost } from "../support/shares-host.js";
import { filesBelow } from "../support/host-kit.js";
import { certificateOf, gpgVerify, pinOf, signOverSsh } from "./helpers.js";

const HOME_BASE = hostLayout().homeBase;


let host: SharesHost;
let work: string;
const downloaded: string[] = [];
let setId = "";

beforeAll(async () => {
  host = await startSharesHost({ signers: [{ name: "alice", kind: "ed25519" }, { name: "bob", kind: "p256" }] });
  work = await mkdtemp(join(tmpdir(), "signstar-story-"));
  await host.writeConfig({ iteration: 1, signers: ["alice"] });
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Every regular file of the host state: the state root, the test users' homes, the SoftHSM directory. */
async function hostFiles(): Promise<string[]> {
  const homes = [...host.holders, ...host.signers.values()].map((u) => join(HOME_BASE, u.user));
  const all = [await filesBelow(host.root), await filesBelow(host.softhsm.dir), ...(await Promise.all(homes.map(filesBelow)))];
  return all.flat();
}

function holderSsh(i: number, opts: { command?: string[]; input?: string } = {}) {
  return host.ssh(host.holders[i]!, opts);
}

describe("SoftHSM: unprovisioned → configured → shares downloaded", () => {
  it("--dry-run prints the plan and changes nothing", async () => {
    const r = await host.configure(["--dry-run"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^plan: generate admin credentials, split them into 3 shares \(threshold 2\)/m);
    expect(r.stdout).toMatch(/^plan: pkcs11 token label "signstar": initialize the token/m);
    expect(r.stdout).not.toMatch(/^done:/m);
    expect(await readdir(host.softhsm.tokenDir)).toEqual([]);
    expect(await filesBelow(join(host.root, "var/lib/signstar/shares"))).toEqual([]);
  });

  it("configure initializes the token, makes the key and stages one share per holder", async () => {
    const r = await host.configure();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^done: generate admin credentials, split them into 3 shares/m);
    expect(r.stdout).toMatch(/^done: pkcs11 token label "signstar": initialize the token/m);
    expect(r.stdout).toMatch(/^done: pkcs11 token label "signstar": generate key and its OpenPGP certificate label:alice-key/m);
    expect(r.stdout).toMatch(/^info: configuration applied$/m);
    const set = await new ShareStore({ root: host.root }).loadShareSet();
    setId = set.record.setId;
    expect(set.holders.map((h) => h.user)).toEqual(host.holders.map((h) => h.user));
    expect((await pinOf(host, "alice")).length).toBe(32);
  });

  it("alice signs over SSH and gpg verifies", async () => {
    const s = await signOverSsh(host, "alice", work);
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    expect(await gpgVerify(await certificateOf(host, "alice"), s.sig, s.data)).toBe(0);
  });

  it("each holder downloads its own share over SSH and confirms it; until then it stays on the host", async () => {
    for (const [i, h] of host.holders.entries()) {
      const r = await holderSsh(i);
      expect(r.code).toBe(0);
      const line = r.stdout.trim();
      expect(r.stdout.split("\n")).toHaveLength(2);
      const parsed = parseShareLine(line);
      expect(parsed.setId).toBe(setId);
      expect(parsed.index).toBe(i + 1);
      const code = confirmationCode(line);
      expect(r.stderr).toMatch(new RegExp(`^share ${i + 1} of set ${setId} stays on this host until you confirm that you stored it: ssh -p ${host.sshd.port} ${h.user}@127\\.0\\.0\\.1 confirm ${code}\n$`));
      downloaded.push(line);
      // Not confirmed (e.g. the client died after the bytes left): the same share again.
      expect((await holderSsh(i)).stdout.trim()).toBe(line);
      const wrong = await holderSsh(i, { command: ["confirm", code === "00000000" ? "11111111" : "00000000"] });
      expect(wrong.code).toBe(3);
      expect(wrong.stderr).toMatch(/^signstar-download-secret-share: confirmation code [0-9]{8} does not match share \d of set [0-9a-f]{16}; the share stays on this host/);
      const ok = await holderSsh(i, { command: ["confirm", code] });
      expect([ok.code, ok.stdout, ok.stderr]).toEqual([0, `share ${i + 1} of set ${setId} confirmed: it was removed from this host; keep your copy offline\n`, ""]);
      const again = await holderSsh(i);
      expect(again.stdout).toBe("");
      expect(again.code).toBe(5);
      expect(again.stderr).toBe(
        `signstar-download-secret-share: user ${h.user} already downloaded share ${i + 1} of set ${setId}; it is no longer on this host\n`,
      );
    }
  });

  it("the host now holds no admin secret: no file contains the SO PIN or any share", async () => {
    const set = await new ShareStore({ root: host.root }).loadShareSet();
    const creds = parseAdminCredentials(Buffer.from(combineShares(downloaded.map((l) => verifyShare(l, set.record)), set.record)).toString("utf8"));
    const soPin = creds.pkcs11Tokens![0]!.soPin;
    expect(soPin).toMatch(/^[A-Za-z0-9]{32}$/);
    const secrets = [soPin, ...downloaded.map((l) => parseShareLine(l).data)];
    const files = await hostFiles();
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const text = (await readFile(f)).toString("latin1");
      for (const s of secrets) expect(text.includes(s), `${f} contains a secret`).toBe(false);
    }
    await expect(lstat(join(host.root, "var/lib/signstar/creds/admin-credentials.toml"))).rejects.toThrow(/ENOENT/);
  });
});

describe("uploads: refused shares, then two of three", () => {
  it("an unknown command is refused", async () => {
    const r = await holderSsh(0, { command: ["cat", "/etc/shadow"] });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^signstar-download-secret-share: unknown command "cat \/etc\/shadow"/);
  });

  it("a mistyped share names the checksum; a forged one (checksum fixed) the commitment", async () => {
    const line = downloaded[2]!;
    const flipped = line.replace(/:([0-9a-f])([0-9a-f]{65}):/, (_m, a: string, rest: string) => `:${a === "0" ? "1" : "0"}${rest}:`);
    let r = await holderSsh(2, { command: ["upload"], input: `${flipped}\n` });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("signstar-upload-secret-share: checksum mismatch: the share was mistyped\n");
    const p = parseShareLine(line);
    const data = `${p.data[0] === "0" ? "1" : "0"}${p.data.slice(1)}`;
    r = await holderSsh(2, { command: ["upload"], input: formatShareLine({ ...p, data }) });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `signstar-upload-secret-share: share 3 does not match the host's commitment for share 3 of set ${setId}: it was altered or corrupted\n`,
    );
  });

  it("shares of another set or iteration are refused with the set/iteration named", async () => {
    const p = parseShareLine(downloaded[0]!);
    let r = await holderSsh(0, { command: ["upload"], input: formatShareLine({ ...p, setId: "0123456789abcdef" }) });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`signstar-upload-secret-share: the share belongs to another share set (0123456789abcdef); the current share set is ${setId}\n`);
    r = await holderSsh(0, { command: ["upload"], input: formatShareLine({ ...p, iteration: 7 }) });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("signstar-upload-secret-share: the share belongs to config iteration 7, but the current share set is for iteration 1\n");
  });

  it("a holder cannot upload another holder's share; a signing user is no shareholder", async () => {
    const r = await holderSsh(1, { command: ["upload"], input: downloaded[0]! });
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(`signstar-upload-secret-share: share 1 of set ${setId} was not issued to user ${host.holders[1]!.user}\n`);
    const alice = host.signers.get("alice")!.user;
    const direct = await new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
      const child = execFile(
        "runuser",
        ["-u", alice, "--", process.execPath, join(process.cwd(), "dist/bin/signstar-upload-secret-share.js"), "--root", host.root],
        { env: { PATH: process.env["PATH"], ...host.env } },
        (error, stdout, stderr) => resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, stdout, stderr }),
      );
      child.stdin?.end(downloaded[0]!);
    });
    expect(direct.code).toBe(5);
    expect(direct.stdout).toBe("");
    expect(direct.stderr).toBe(`signstar-upload-secret-share: the user "${alice}" is not a shareholder in the configuration\n`);
  });

  it("holder 1 uploads: 1 of 2 present; the same share again is refused", async () => {
    const r = await holderSsh(0, { command: ["upload"], input: `${downloaded[0]!}\n` });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^share 1 of set ${setId} accepted: 1 of the 2 required shares are present; they are wiped at \\S+Z \\(900 s after the first upload\\)\\n$`));
    const again = await holderSsh(0, { command: ["upload"], input: downloaded[0]! });
    expect(again.code).toBe(3);
    expect(again.stderr).toBe(`signstar-upload-secret-share: share 1 of set ${setId} has already been uploaded\n`);
  });

  it("with fewer than the threshold, configure refuses a change that needs the admin secret and changes nothing", async () => {
    await host.writeConfig({ iteration: 2, signers: ["alice", "bob"] });
    const r = await host.configure();
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(new RegExp(`only 1 of the 2 required shares of set ${setId} are present`));
    expect(r.stdout).not.toMatch(/^done:/m);
    await expect(pinOf(host, "bob")).rejects.toThrow(/ENOENT/);
    // The upload is still there for the second holder to complete.
    const st = await lstat(join(host.root, "run/signstar/share-uploads", host.holders[0]!.user, "share"));
    expect(st.mode & 0o777).toBe(0o600);
  });

  it("holder 2 uploads over SSH: 2 of 2 present", async () => {
    const r = await holderSsh(1, { command: ["upload"], input: downloaded[1]! });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 of the 2 required shares are present; .*enough shares are present/);
  });

  it("configure combines the uploads, applies iteration 2 (bob added), re-splits and wipes the uploads", async () => {
    const r = await host.configure();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^info: admin credentials: combined from 2 shares of set ${setId} \\(0 not yet downloaded, 2 uploaded\\)$`, "m"));
    expect(r.stdout).toMatch(/^done: update admin credentials, split them into 3 shares/m);
    expect(r.stdout).toMatch(/^done: pkcs11 token label "signstar": generate key and its OpenPGP certificate label:bob-key/m);
    expect(r.stdout).toMatch(/^info: wiped 2 uploaded share\(s\) of the replaced share set$/m);
    for (const h of host.holders) expect(await readdir(join(host.root, "run/signstar/share-uploads", h.user))).toEqual([]);
    const set = await new ShareStore({ root: host.root }).loadShareSet();
    expect(set.record.iteration).toBe(2);
    expect(set.record.setId).not.toBe(setId);
    // Issue 17.6: the old set is kept until a threshold of the new one is confirmed (a reboot loses new shares
    // that are still on the host): its shares are still taken.
    expect(set.previous?.record.setId).toBe(setId);
    const old = await holderSsh(0, { command: ["upload"], input: downloaded[0]! });
    expect(old.stderr).toBe("");
    expect(old.code).toBe(0);
    expect(old.stdout).toMatch(new RegExp(`^share 1 of set ${setId} accepted: `));
  });

  it("bob (added by the changed config) signs over SSH and gpg verifies; alice still signs", async () => {
    for (const name of ["bob", "alice"]) {
      const s = await signOverSsh(host, name, work);
      expect(s.stderr).toBe("");
      expect(s.code).toBe(0);
      expect(await gpgVerify(await certificateOf(host, name), s.sig, s.data)).toBe(0);
    }
  });

  it("a second run without config change only rotates the user PIN", async () => {
    const before = await pinOf(host, "alice");
    const certBefore = await certificateOf(host, "bob");
    const r = await host.configure();
    expect(r.code).toBe(0);
    const done = r.stdout.split("\n").filter((l) => l.startsWith("done:"));
    expect(done).toEqual([
      `done: pkcs11 token label "signstar": rotate the user PIN; write it to the secret files of ${host.signers.get("alice")!.user}, ${host.signers.get("bob")!.user}`,
    ]);
    const after = await pinOf(host, "alice");
    expect(after).not.toBe(before);
    expect(await pinOf(host, "bob")).toBe(after);
    expect(Buffer.from(await certificateOf(host, "bob")).equals(Buffer.from(certBefore))).toBe(true);
    const s = await signOverSsh(host, "bob", work);
    expect(s.code).toBe(0);
  });

  it("the holders fetch the new set's shares; then the host again holds none", async () => {
    for (const i of [0, 1, 2]) {
      const r = await holderSsh(i);
      expect(r.code).toBe(0);
      expect(parseShareLine(r.stdout.trim()).iteration).toBe(2);
      if (i === 0) {
        // Downloaded but not yet confirmed: signstar-configure does not count it as fetched.
        const before = await host.configure();
        expect(before.stdout).toMatch(/: claimed, .*: pending, .*: pending$/m);
      }
      expect((await holderSsh(i, { command: ["confirm", confirmationCode(r.stdout.trim())] })).code).toBe(0);
    }
    const r = await host.configure();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/: fetched, .*: fetched, .*: fetched$/m);
    expect(r.stdout).not.toMatch(/admin credentials: combined/);
    // Confirmed: the previous set is retired, its shares are useless now.
    expect(r.stdout).toMatch(new RegExp(`^info: retired the previous share set ${setId}: `, "m"));
    const old = await holderSsh(0, { command: ["upload"], input: downloaded[0]! });
    expect(old.code).toBe(3);
    expect(old.stderr).toMatch(/belongs to config iteration 1, but the current share set is for iteration 2/);
    // Without the admin secret the next config change that needs it is refused with the count.
    await host.writeConfig({ iteration: 3, signers: ["alice", "bob"] });
    const refused = await host.configure();
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(/only 0 of the 2 required shares of set [0-9a-f]{16} are present/);
  });
});
