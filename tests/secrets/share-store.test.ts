import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../../lib/errors.js";
import { ShareStore } from "../../lib/secrets/share-store.js";
import { netHsmUserId } from "../../lib/config/primitives.js";
import { generateAdminCredentials, parseAdminCredentials, serializeAdminCredentials } from "../../lib/secrets/admin-credentials.js";
import { ShareError, type ShareProblem } from "../../lib/secrets/shares/errors.js";
import { formatShareLine, parseShareLine } from "../../lib/secrets/shares/format.js";
import { combineShares, splitSecret } from "../../lib/secrets/shares/shamir.js";

const SECRET = Buffer.from('iteration = 1\nunlock_passphrase = "unlock-passphrase"\n');
const USERS = ["alice", "bob", "carol"];
const MINUTE = 60_000;
const T0 = Date.parse("2025-01-01T00:00:00Z");

let root: string;
let store: ShareStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-share-store-"));
  store = new ShareStore({ root, requireTmpfs: false });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<ShareError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof ShareError) return error;
    throw error;
  }
  throw new Error("expected a ShareError");
}

async function expectRejected(p: Promise<unknown>, problem: ShareProblem, message: string | RegExp, exitCode: number = ExitCode.BadInput) {
  const e = await rejection(p);
  expect(e.problem).toBe(problem);
  if (typeof message === "string") expect(e.message).toBe(message);
  else expect(e.message).toMatch(message);
  expect(e.exitCode).toBe(exitCode);
}

async function modeOf(path: string): Promise<number> {
  return (await lstat(path)).mode & 0o7777;
}

/** Splits SECRET 2-of-3 and stages share i for USERS[i]. */
async function staged(iteration = 1) {
  const { shares, record } = splitSecret(SECRET, { threshold: 2, shares: 3, iteration });
  await store.stageShares(
    record,
    USERS.map((user, i) => ({ user, share: shares[i]! })),
  );
  return { shares, record };
}

/** Every file below `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(d, e.name), `${prefix}${e.name}/`);
      else out.push(`${prefix}${e.name}`);
    }
  };
  await walk(dir, "");
  return out.sort();
}

describe("staging shares for download", () => {
  it("stages one root 0600 share per holder in 0700 directories and records the set without share data", async () => {
    const { shares, record } = await staged();
    const setDir = join(store.stateDir, record.setId);
    expect(await tree(store.stateDir)).toEqual([
      "record.json",
      `${record.setId}/pending/alice.share`,
      `${record.setId}/pending/bob.share`,
      `${record.setId}/pending/carol.share`,
    ].sort());
    expect(await modeOf(store.stateDir)).toBe(0o700);
    for (const d of [setDir, join(setDir, "pending"), join(setDir, "claimed"), join(setDir, "fetched")]) expect(await modeOf(d)).toBe(0o700);
    expect(await modeOf(store.recordPath)).toBe(0o600);
    expect(await modeOf(join(setDir, "pending", "bob.share"))).toBe(0o600);
    expect((await lstat(join(setDir, "pending", "bob.share"))).uid).toBe(0);
    expect((await readFile(join(setDir, "pending", "bob.share"), "utf8")).trim()).toBe(shares[1]);
    const recordText = await readFile(store.recordPath, "utf8");
    for (const s of shares) expect(recordText).not.toContain(s.split(":")[5]);
    const set = await store.loadShareSet();
    expect(set.record).toEqual(record);
    expect(set.holders).toEqual([
      { index: 1, user: "alice" },
      { index: 2, user: "bob" },
      { index: 3, user: "carol" },
    ]);
  });

  it("each holder takes its own share exactly once; then all are fetched and no share is left", async () => {
    const { shares, record } = await staged();
    expect(await store.allSharesFetched()).toBe(false);
    expect(await store.takeStagedShare("bob", T0)).toBe(shares[1]);
    await expectRejected(
      store.takeStagedShare("bob"),
      "already-downloaded",
      `user bob already downloaded share 2 of set ${record.setId}; it is no longer on this host`,
      ExitCode.Denied,
    );
    expect(await store.allSharesFetched()).toBe(false);
    expect(await store.takeStagedShare("alice")).toBe(shares[0]);
    expect(await store.takeStagedShare("carol")).toBe(shares[2]);
    expect(await store.allSharesFetched()).toBe(true);
    expect(await store.stagingStatus()).toEqual(USERS.map((user, i) => ({ user, index: i + 1, state: "fetched" })));
    // only markers and the record remain; none of them holds share data
    const files = await tree(store.stateDir);
    expect(files.filter((f) => f.endsWith(".share"))).toEqual([]);
    for (const f of files) {
      const text = await readFile(join(store.stateDir, f), "utf8");
      for (const s of shares) expect(text).not.toContain(s.split(":")[5]);
    }
    expect(JSON.parse(await readFile(join(store.stateDir, record.setId, "fetched", "bob"), "utf8"))).toEqual({
      index: 2,
      fetchedAt: "2025-01-01T00:00:00.000Z",
    });
  });

  it("refuses users who are not shareholders and invalid user names", async () => {
    const { record } = await staged();
    await expectRejected(store.takeStagedShare("mallory"), "holder", `user mallory is not a shareholder of share set ${record.setId}`, ExitCode.Denied);
    await expectRejected(store.takeStagedShare("../alice"), "holder", /^the system user name "..\/alice" is invalid/, ExitCode.Denied);
  });

  it("two concurrent downloads of the same share: exactly one gets it", async () => {
    const { shares } = await staged();
    const results = await Promise.allSettled([store.takeStagedShare("alice"), store.takeStagedShare("alice"), store.takeStagedShare("alice")]);
    const ok = results.filter((r) => r.status === "fulfilled");
    expect(ok).toHaveLength(1);
    expect((ok[0] as PromiseFulfilledResult<string>).value).toBe(shares[0]);
    for (const r of results.filter((x) => x.status === "rejected")) {
      expect(((r as PromiseRejectedResult).reason as ShareError).problem).toBe("already-downloaded");
    }
  });

  it("a claim that is released (delivery failed) can be downloaded again", async () => {
    const { shares, record } = await staged();
    const claim = await store.claimStagedShare("carol");
    expect(claim.share).toBe(shares[2]);
    expect((await store.stagingStatus()).find((s) => s.user === "carol")?.state).toBe("claimed");
    await expectRejected(store.takeStagedShare("carol"), "already-downloaded", /^user carol already downloaded share 3/, ExitCode.Denied);
    await claim.release();
    expect(await readdir(join(store.stateDir, record.setId, "pending"))).toContain("carol.share");
    expect(await store.takeStagedShare("carol")).toBe(shares[2]);
  });

  it("refuses bad assignments and leaves nothing behind", async () => {
    const { shares, record } = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
    const other = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
    await expectRejected(store.stageShares(record, [{ user: "alice", share: shares[0]! }]), "parameters", `share set ${record.setId} has 3 shares, but 1 were assigned`);
    await expectRejected(
      store.stageShares(record, [{ user: "alice", share: shares[0]! }, { user: "alice", share: shares[1]! }, { user: "bob", share: shares[2]! }]),
      "holder",
      "user alice was assigned more than one share",
    );
    await expectRejected(
      store.stageShares(record, [{ user: "alice", share: shares[0]! }, { user: "bob", share: shares[0]! }, { user: "carol", share: shares[2]! }]),
      "duplicate",
      "share 1 was assigned more than once",
    );
    await expectRejected(
      store.stageShares(record, [{ user: "alice", share: shares[0]! }, { user: "bob", share: other.shares[1]! }, { user: "carol", share: shares[2]! }]),
      "set",
      /^the share belongs to another share set/,
    );
    expect(await tree(root)).toEqual([]);
    expect(await store.readShareSet()).toBeUndefined();
    await expectRejected(store.takeStagedShare("alice"), "no-share-set", /^no share set is recorded on this host/, ExitCode.Config);
  });

  it("refuses to stage a set twice and leaves nothing behind when the commit fails", async () => {
    const { shares, record } = await staged();
    await expectRejected(
      store.stageShares(record, USERS.map((user, i) => ({ user, share: shares[i]! }))),
      "set",
      `share set ${record.setId} is already staged`,
    );
    const next = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 2 });
    await rm(store.recordPath);
    await mkdir(store.recordPath); // rename over a directory fails: the commit point is never reached
    await expect(store.stageShares(next.record, USERS.map((user, i) => ({ user, share: next.shares[i]! })))).rejects.toThrow();
    const names = await readdir(store.stateDir);
    expect(names.filter((n) => n.includes(next.record.setId))).toEqual([]);
    expect(names).toContain(record.setId);
  });

  it("a new set replaces the old one and removes its undownloaded shares", async () => {
    const first = await staged(1);
    const second = await staged(2);
    expect((await readdir(store.stateDir)).sort()).toEqual([second.record.setId, "record.json"].sort());
    expect((await store.loadShareSet()).record.setId).toBe(second.record.setId);
    expect(await store.takeStagedShare("alice")).toBe(second.shares[0]);
    expect(first.record.setId).not.toBe(second.record.setId);
  });
});

describe("uploading shares (tmpfs state)", () => {
  it("verifies, counts each share once, and hands back verified shares that combine", async () => {
    const { shares, record } = await staged();
    const s1 = await store.storeUploadedShare("alice", `${shares[0]!}\n`, T0, 10 * MINUTE);
    expect(s1).toEqual({ setId: record.setId, uploaded: 1, threshold: 2, expiresAt: T0 + 10 * MINUTE });
    expect(await modeOf(store.uploadDir)).toBe(0o700);
    expect(await readdir(store.uploadDir)).toEqual(["1.share"]);
    expect(await modeOf(join(store.uploadDir, "1.share"))).toBe(0o600);
    expect((await lstat(join(store.uploadDir, "1.share"))).uid).toBe(0);

    await expectRejected(
      store.storeUploadedShare("alice", shares[0]!, T0 + MINUTE, 10 * MINUTE),
      "duplicate",
      `share 1 of set ${record.setId} has already been uploaded`,
    );
    const s2 = await store.storeUploadedShare("carol", shares[2]!, T0 + 2 * MINUTE, 10 * MINUTE);
    expect(s2.uploaded).toBe(2);
    expect(s2.expiresAt).toBe(T0 + 10 * MINUTE); // the window starts at the first upload

    const collected = await store.collectUploadedShares(T0 + 3 * MINUTE, 10 * MINUTE);
    expect(collected.map((s) => s.index)).toEqual([1, 3]);
    expect(Buffer.from(combineShares(collected, record))).toEqual(SECRET);
    await store.wipeUploadedShares();
    expect(await readdir(store.uploadDir)).toEqual([]);
    expect(await store.collectUploadedShares(T0 + 4 * MINUTE, 10 * MINUTE)).toEqual([]);
  });

  it("fewer than the threshold are collected but refused by combineShares", async () => {
    const { shares, record } = await staged();
    await store.storeUploadedShare("bob", shares[1]!, T0);
    const collected = await store.collectUploadedShares(T0);
    expect(() => combineShares(collected, record)).toThrow(`only 1 of the 2 required shares of set ${record.setId} are present`);
  });

  it("rejects bad uploads with the failed check and changes nothing", async () => {
    const { shares, record } = await staged();
    const other = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
    const older = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 0 });
    await store.storeUploadedShare("alice", shares[0]!, T0);
    const before = await tree(store.uploadDir);
    const tampered = formatShareLine({ ...parseShareLine(shares[1]!), data: `00${parseShareLine(shares[1]!).data.slice(2)}` });
    const typo = shares[1]!.slice(0, -10) + (shares[1]!.at(-10) === "0" ? "1" : "0") + shares[1]!.slice(-9);
    const cases: [string, string, ShareProblem, string | RegExp, number][] = [
      ["bob", "garbage", "format", 'malformed share: it does not start with "signstar-share-v1:"', ExitCode.BadInput],
      ["bob", typo, "checksum", "checksum mismatch: the share was mistyped", ExitCode.BadInput],
      ["bob", tampered, "commitment", `share 2 does not match the host's commitment for share 2 of set ${record.setId}: it was altered or corrupted`, ExitCode.BadInput],
      ["bob", other.shares[1]!, "set", /^the share belongs to another share set/, ExitCode.BadInput],
      ["bob", older.shares[1]!, "iteration", "the share belongs to config iteration 0, but the current share set is for iteration 1", ExitCode.BadInput],
      ["bob", shares[2]!, "holder", `share 3 of set ${record.setId} was not issued to user bob`, ExitCode.Denied],
      ["mallory", shares[1]!, "holder", `user mallory is not a shareholder of share set ${record.setId}`, ExitCode.Denied],
      ["alice", shares[0]!, "duplicate", `share 1 of set ${record.setId} has already been uploaded`, ExitCode.BadInput],
    ];
    if (tampered === shares[1]) throw new Error("test setup: tampering changed nothing");
    for (const [user, text, problem, message, code] of cases) {
      await expectRejected(store.storeUploadedShare(user, text, T0 + MINUTE), problem, message, code);
      expect(await tree(store.uploadDir)).toEqual(before);
    }
    expect((await store.uploadStatus(T0 + MINUTE)).uploaded).toBe(1);
  });

  it("wipes everything once the upload window expired, on every read", async () => {
    const { shares } = await staged();
    await store.storeUploadedShare("alice", shares[0]!, T0, 5 * MINUTE);
    await store.storeUploadedShare("bob", shares[1]!, T0 + 4 * MINUTE, 5 * MINUTE);
    expect((await store.collectUploadedShares(T0 + 5 * MINUTE - 1, 5 * MINUTE)).length).toBe(2);
    await expectRejected(
      store.collectUploadedShares(T0 + 5 * MINUTE, 5 * MINUTE),
      "expired",
      "the uploaded shares were wiped because they expired (more than 300 s after the first upload); upload them again",
    );
    expect(await readdir(store.uploadDir)).toEqual([]);
  });

  it("an upload after expiry wipes the old ones and opens a new window", async () => {
    const { shares } = await staged();
    await store.storeUploadedShare("alice", shares[0]!, T0, 5 * MINUTE);
    const status = await store.storeUploadedShare("carol", shares[2]!, T0 + 6 * MINUTE, 5 * MINUTE);
    expect(status).toMatchObject({ uploaded: 1, expiresAt: T0 + 11 * MINUTE, wipedOld: "expired" });
    expect(await readdir(store.uploadDir)).toEqual(["3.share"]);
    // the same share may be uploaded again in the new window
    expect((await store.storeUploadedShare("alice", shares[0]!, T0 + 7 * MINUTE, 5 * MINUTE)).uploaded).toBe(2);
  });

  it("the timer's wipeExpiredUploads removes only expired uploads", async () => {
    const { shares } = await staged();
    await store.storeUploadedShare("alice", shares[0]!, T0, 5 * MINUTE);
    expect(await store.wipeExpiredUploads(T0 + MINUTE, 5 * MINUTE)).toBe(false);
    expect(await readdir(store.uploadDir)).toEqual(["1.share"]);
    expect(await store.wipeExpiredUploads(T0 + 5 * MINUTE, 5 * MINUTE)).toBe(true);
    expect(await readdir(store.uploadDir)).toEqual([]);
  });

  it("uploads of a replaced share set are wiped when read", async () => {
    const first = await staged(1);
    await store.storeUploadedShare("alice", first.shares[0]!, T0);
    await staged(2);
    await expectRejected(store.collectUploadedShares(T0 + 1), "set", /^the uploaded shares were wiped because they belong to another share set than [0-9a-f]{16}; upload them again$/);
    expect(await readdir(store.uploadDir)).toEqual([]);
  });

  it("a corrupt or wrongly permitted upload file wipes all uploads", async () => {
    const { shares } = await staged();
    await store.storeUploadedShare("alice", shares[0]!, T0);
    await store.storeUploadedShare("bob", shares[1]!, T0);
    await chmod(join(store.uploadDir, "2.share"), 0o644);
    await expectRejected(store.collectUploadedShares(T0 + 1), "corrupt", "the uploaded shares were wiped because one of them was corrupt; upload them again", ExitCode.BadInput);
    expect(await readdir(store.uploadDir)).toEqual([]);
    await store.storeUploadedShare("alice", shares[0]!, T0);
    await writeFile(join(store.uploadDir, "1.share"), "{}", { mode: 0o600 });
    await expectRejected(store.collectUploadedShares(T0 + 1), "corrupt", /one of them was corrupt/, ExitCode.BadInput);
  });

  it("concurrent uploads of the same share: exactly one is stored", async () => {
    const { shares } = await staged();
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => store.storeUploadedShare("alice", shares[0]!, T0)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(await readdir(store.uploadDir)).toEqual(["1.share"]);
  });

  it("refuses a group/other-accessible upload directory", async () => {
    const { shares } = await staged();
    await store.storeUploadedShare("alice", shares[0]!, T0);
    await chmod(store.uploadDir, 0o755);
    await expect(store.collectUploadedShares(T0)).rejects.toThrow(`directory ${store.uploadDir} has mode 0755, but group and others must have no access (0700)`);
  });

  it("with requireTmpfs, uploads are refused off tmpfs and accepted on tmpfs", async () => {
    const { shares } = await staged();
    const strict = new ShareStore({ root, requireTmpfs: true });
    await expectRejected(
      strict.storeUploadedShare("alice", shares[0]!, T0),
      "storage",
      `${strict.uploadDir} is not on tmpfs; uploaded shares must never reach a disk`,
      ExitCode.Secret,
    );
    const shmRoot = await mkdtemp(join("/dev/shm", "signstar-share-store-"));
    try {
      const onTmpfs = new ShareStore({ root: shmRoot, requireTmpfs: true });
      const { shares: s, record } = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
      await onTmpfs.stageShares(record, USERS.map((user, i) => ({ user, share: s[i]! })));
      expect((await onTmpfs.storeUploadedShare("bob", s[1]!, T0)).uploaded).toBe(1);
    } finally {
      await rm(shmRoot, { recursive: true, force: true });
    }
  });
});

describe("the whole library story", () => {
  it("generate → split → stage → every holder downloads → threshold uploads → combine gives the credentials back", async () => {
    const creds = generateAdminCredentials({ iteration: 3, nethsm: { administrators: [netHsmUserId("ns1~admin")] }, pkcs11Tokens: [{ label: "tok" }] });
    const { shares, record } = splitSecret(Buffer.from(serializeAdminCredentials(creds)), { threshold: 2, shares: 3, iteration: 3 });
    await store.stageShares(record, USERS.map((user, i) => ({ user, share: shares[i]! })));
    const downloaded = new Map<string, string>();
    for (const u of USERS) downloaded.set(u, await store.takeStagedShare(u));
    expect(await store.allSharesFetched()).toBe(true);
    // nothing on the host contains the admin secret or a share any more
    for (const f of await tree(root)) {
      const text = await readFile(join(root, f), "utf8");
      expect(text).not.toContain(creds.nethsm!.unlockPassphrase);
      for (const s of shares) expect(text).not.toContain(s.split(":")[5]);
    }
    await store.storeUploadedShare("carol", downloaded.get("carol")!, T0);
    await store.storeUploadedShare("alice", downloaded.get("alice")!, T0 + MINUTE);
    const secret = combineShares(await store.collectUploadedShares(T0 + 2 * MINUTE), record);
    await store.wipeUploadedShares();
    expect(parseAdminCredentials(Buffer.from(secret).toString("utf8"))).toEqual(creds);
    expect(await readdir(store.uploadDir)).toEqual([]);
  });
});
