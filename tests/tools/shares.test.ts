/**
 * The share tools in-process (the caller is passed in, so root can act as each shareholder): download races,
 * the upload window (expiry, a new window after expiry), the timer's wipe, and the root checks of
 * signstar-configure. The same tools over real sshd are covered by tests/configure/softhsm-story.test.ts.
 */
import { execFile } from "node:child_process";
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configure } from "../../lib/configure/run.js";
import { collectUploads, readPublicShareSet, uploadWindow, wipeExpiredUploads } from "../../lib/spool/shares.js";
import { requireUser, type PasswdEntry } from "../../lib/os/accounts.js";
import { memorySink } from "../support/syslog.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { ShareStore } from "../../lib/secrets/share-store.js";
import { configureTool } from "../../lib/tools/configure.js";
import { confirmCodeOf, confirmCommand, confirmSecretShare, downloadSecretShare, shareCommandOf } from "../../lib/tools/download-secret-share.js";
import { confirmationCode } from "../../lib/secrets/share-claim.js";
import { downloadState } from "../../lib/spool/shares.js";
import { uploadSecretShare } from "../../lib/tools/upload-secret-share.js";
import { createSoftHsm, type SoftHsm } from "../support/softhsm.js";
import { TestUsers } from "../support/users.js";

const HOME_BASE = hostLayout().homeBase;

const exec = promisify(execFile);
const MIN = 60_000;

let dir: string;
let root: string;
let configFile: string;
let users: TestUsers;
let softhsm: SoftHsm;
const holders: PasswdEntry[] = [];

const caller = (p: PasswdEntry) => ({ uid: p.uid, gid: p.gid, name: p.name });
const common = (p: PasswdEntry, now = () => new Date()) => ({ caller: caller(p), config: { path: configFile }, root, now, log: memorySink() });

async function download(p: PasswdEntry, notes: string[] = []): Promise<string> {
  let text = "";
  await downloadSecretShare({ ...common(p), write: async (t) => void (text += t), notify: async (t) => void notes.push(t), sshConnection: "192.0.2.9 50000 198.51.100.7 2222" });
  return text.trim();
}

function confirm(p: PasswdEntry, code: string): Promise<string> {
  return confirmSecretShare({ ...common(p), code });
}

function upload(p: PasswdEntry, share: string, now = Date.now()): Promise<string> {
  return uploadSecretShare({ ...common(p, () => new Date(now)), stdin: Readable.from([Buffer.from(share)]) });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-share-tools-"));
  root = join(dir, "root");
  await mkdir(join(root, "var/lib/signstar"), { recursive: true });
  await mkdir(HOME_BASE, { recursive: true, mode: 0o755 });
  await symlink(HOME_BASE, join(root, HOME_BASE));
  users = new TestUsers();
  for (const s of ["h1", "h2", "h3"]) {
    const u = await users.add(s, { home: join(HOME_BASE, users.name(s)), createHome: true });
    holders.push(await requireUser(u.name));
  }
  softhsm = await createSoftHsm({ tokens: [] });
  softhsm.activate();
  const key = (i: number) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${"ABCDEFGH"[i]}oaqAzWpBTvxkRMWs2npS0PoVH5YCQliEZHg9FS96BE h${i}@example.org`;
  configFile = join(dir, "config.toml");
  await writeFile(
    configFile,
    [
      "[system]",
      "iteration = 1",
      "admin_secret_handling = { shamirs-secret-sharing = { number_of_shares = 3, threshold = 2 } }",
      'non_admin_secret_handling = "plaintext"',
      ...holders.flatMap((h, i) => ["[[system.mappings]]", `share_holder = { system_user = "${h.name}", ssh_authorized_key = "${key(i)}" }`]),
      "[pkcs11]",
      `module = "${softhsm.module}"`,
      "[[pkcs11.mappings]]",
      'admin = { token = { label = "tools" } }',
      "",
    ].join("\n"),
  );
  await configure({ config: { path: configFile }, root, out: () => undefined });
}, 120_000);

afterAll(async () => {
  await softhsm?.cleanup();
  await users?.removeAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("download", () => {
  it("a download stays on the host until confirmed: again downloadable, a wrong code refused, the right one wipes it", async () => {
    const h = holders[0]!;
    const results = await Promise.allSettled([download(h), download(h)]);
    const lines = results.map((r) => (r as PromiseFulfilledResult<string>).value);
    expect(lines[0]).toMatch(/^signstar-share-v1:[0-9a-f]{16}:1:2-of-3:1:/);
    expect(lines[1]).toBe(lines[0]); // concurrent downloads of one holder both get its one share
    const setId = lines[0]!.split(":")[1]!;
    const notes: string[] = [];
    expect(await download(h, notes)).toBe(lines[0]); // not confirmed yet: downloadable again
    const code = confirmationCode(lines[0]!);
    expect(notes).toEqual([`share 1 of set ${setId} stays on this host until you confirm that you stored it: ssh -p 2222 ${h.name}@198.51.100.7 confirm ${code}\n`]);
    expect(await downloadState(root, h.name, setId)).toBe("claimed"); // signstar-configure does not count it as fetched
    const wrong = code === "00000000" ? "11111111" : "00000000";
    await expect(confirm(h, wrong)).rejects.toThrow(
      `confirmation code ${wrong} does not match share 1 of set ${setId}; the share stays on this host: download it again and confirm with the code printed then`,
    );
    expect(await downloadState(root, h.name, setId)).toBe("claimed");
    expect(await confirm(h, code.toUpperCase())).toBe(`share 1 of set ${setId} confirmed: it was removed from this host; keep your copy offline\n`);
    expect(await downloadState(root, h.name, setId)).toBe("fetched");
    await expect(download(h)).rejects.toThrow(`user ${h.name} already downloaded share 1 of set ${setId}; it is no longer on this host`);
    await expect(confirm(h, code)).rejects.toThrow(`share 1 of set ${setId} was already confirmed; it is no longer on this host`);
  });

  it("confirming before downloading is refused and changes nothing", async () => {
    const h = holders[2]!;
    await expect(confirm(h, "abcdef01")).rejects.toThrow(/^share 3 of set [0-9a-f]{16} has not been downloaded yet: download it first/);
  });

  it("a failed write puts the share back (the holder can try again)", async () => {
    await expect(
      downloadSecretShare({ ...common(holders[1]!), write: async () => Promise.reject(new Error("EPIPE")) }),
    ).rejects.toThrow(/could not be sent \(EPIPE\); it stays staged/);
    expect(await download(holders[1]!)).toMatch(/:2-of-3:2:/);
  });

  it("the confirm hint names the address and port the holder used (SSH_CONNECTION), or a form that cannot mislead", () => {
    expect(confirmCommand("h1", "192.0.2.9 50000 198.51.100.7 22", "0badc0de")).toBe("ssh h1@198.51.100.7 confirm 0badc0de");
    expect(confirmCommand("h1", "2001:db8::9 50000 2001:db8::1 2022", "0badc0de")).toBe("ssh -p 2022 h1@2001:db8::1 confirm 0badc0de");
    for (const bad of [undefined, "", "a b c", "1.2.3.4 5 $(id) 22", "1.2.3.4 5 6.7.8.9 99999", "1.2.3.4 5 6.7.8.9 22 x"]) {
      expect(confirmCommand("h1", bad, "0badc0de")).toBe("ssh h1@<the host and port you downloaded from> confirm 0badc0de");
    }
  });

  it("the SSH command whitelist", () => {
    expect(shareCommandOf(undefined)).toBe("download");
    expect(shareCommandOf(" download ")).toBe("download");
    expect(shareCommandOf("upload")).toBe("upload");
    expect(shareCommandOf("confirm 1a2B3c4d")).toBe("confirm");
    expect(confirmCodeOf("confirm 1a2B3c4d")).toBe("1a2b3c4d");
    expect(() => shareCommandOf("confirm")).toThrow(/"confirm" needs the 8 hex digits/);
    expect(() => shareCommandOf("confirm 1a2b3c4d; id")).toThrow(/"confirm" needs the 8 hex digits/);
    expect(() => shareCommandOf("upload; rm -rf /")).toThrow(/unknown command/);
  });
});

describe("upload window", () => {
  it("windows start at the first upload; a later upload after a closed window starts a new one", () => {
    const e = (user: string, at: number, index = 1) => ({ user, index, at });
    let w = uploadWindow([e("a", 0), e("b", 10 * MIN, 2)], 14 * MIN, 15 * MIN);
    expect(w.current.map((x) => x.user)).toEqual(["a", "b"]);
    expect(w.expiresAt).toBe(15 * MIN);
    w = uploadWindow([e("a", 0), e("b", 10 * MIN, 2)], 15 * MIN, 15 * MIN);
    expect(w.current).toEqual([]);
    expect(w.expired).toHaveLength(2);
    w = uploadWindow([e("a", 0), e("b", 16 * MIN, 2)], 17 * MIN, 15 * MIN);
    expect(w.current.map((x) => x.user)).toEqual(["b"]);
    expect(w.expired.map((x) => x.user)).toEqual(["a"]);
    expect(w.expiresAt).toBe(31 * MIN);
  });

  it("an expired upload is not counted, is replaced by a new upload, and is wiped by configure's read and by the timer", async () => {
    const share = await download(holders[2]!);
    const now = Date.now();
    expect(await upload(holders[2]!, share, now)).toMatch(/accepted: 1 of the 2 required shares are present/);
    const file = join(root, "run/signstar/share-uploads", holders[2]!.name, "share");
    const first = await lstat(file);
    await expect(upload(holders[2]!, share, now + 1000)).rejects.toThrow(/share 3 of set [0-9a-f]{16} has already been uploaded/);
    // 16 minutes later the holder's own upload expired: uploading again replaces it (no "already uploaded").
    expect(await upload(holders[2]!, share, now + 16 * MIN)).toMatch(/^share 3 of set [0-9a-f]{16} accepted/);
    expect((await lstat(file)).isFile() && first.isFile()).toBe(true);
    const set = await new ShareStore({ root }).loadShareSet();
    const owners = new Map(holders.map((h) => [h.name, h]));
    const got = await collectUploads(root, set, owners, Date.now());
    expect(got.shares.map((s) => s.index)).toEqual([3]);
    const late = await collectUploads(root, set, owners, now + 40 * MIN);
    expect(late.shares).toEqual([]);
    expect(late.expired).toBe(1);
    await expect(lstat(file)).rejects.toThrow(/ENOENT/);
    // The timer wipes too.
    expect(await upload(holders[2]!, share, Date.now())).toMatch(/1 of the 2/);
    expect(await wipeExpiredUploads(root, set, Date.now() + 20 * MIN)).toBe(1);
    expect(await readdir(join(root, "run/signstar/share-uploads", holders[2]!.name))).toEqual([]);
    expect((await readPublicShareSet(root)).record.setId).toBe(set.record.setId);
  });

  it("the timer executable wipes expired and foreign files, skips a holder's subdirectory, and keeps the holder directories", async () => {
    // A subdirectory (with a link to a root file) no longer aborts the pass, and root never looks inside it.
    const sub = join(root, "run/signstar/share-uploads", holders[1]!.name, "a-subdir");
    await mkdir(sub);
    const rootFile = join(dir, "root-file");
    await writeFile(rootFile, "root data\n", { mode: 0o600 });
    await symlink(rootFile, join(sub, "link"));
    const foreign = join(root, "run/signstar/share-uploads", holders[0]!.name, "junk");
    await writeFile(foreign, "x");
    const { stdout } = await exec(process.execPath, [join(process.cwd(), "dist/bin/signstar-configure.js"), "--wipe-expired-shares", "--root", root]);
    expect(stdout).toBe("wiped 1 expired or stale uploaded share file(s)\n");
    await expect(lstat(foreign)).rejects.toThrow(/ENOENT/);
    expect(await readFile(rootFile, "utf8")).toBe("root data\n");
    await rm(sub, { recursive: true });
    for (const h of holders) expect((await lstat(join(root, "run/signstar/share-uploads", h.name))).uid).toBe(h.uid);
  });
});

describe("signstar-configure", () => {
  it("refuses to run as anyone but root", async () => {
    await expect(
      configureTool({ caller: caller(holders[0]!), config: { path: configFile }, root, out: () => undefined, env: {} }),
    ).rejects.toThrow(`signstar-configure must be run as root, but it runs as "${holders[0]!.name}"`);
  });
});
