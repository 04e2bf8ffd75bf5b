import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../../lib/errors.js";
import { sealShare, unsealShare } from "../../lib/secrets/share-seal.js";
import { ShareStore } from "../../lib/secrets/share-store.js";
import { netHsmUserId } from "../../lib/config/primitives.js";
import { generateAdminCredentials, parseAdminCredentials, serializeAdminCredentials } from "../../lib/secrets/admin-credentials.js";
import { ShareError, type ShareProblem } from "../../lib/secrets/shares/errors.js";
import { formatShareLine, parseShareLine } from "../../lib/secrets/shares/format.js";
import { combineShares, splitSecret } from "../../lib/secrets/shares/shamir.js";
import { verifyShare } from "../../lib/secrets/shares/verify.js";

const SECRET = Buffer.from('iteration = 1\nunlock_passphrase = "unlock-passphrase"\n');
const USERS = ["alice", "bob", "carol"];
const T0 = Date.parse("2025-01-01T00:00:00Z");

let root: string;
let store: ShareStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-share-store-"));
  store = new ShareStore({ root });
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
    USERS.map((user, i) => ({ user, gid: 0, share: shares[i]! })),
  );
  return { shares, record };
}

/** Claims `name`'s share and commits the claim (what signstar-configure does after delivering it). */
async function take(name: string, now = T0): Promise<string> {
  const claim = await store.claimStagedShare(name);
  await claim.commit(now);
  return claim.share;
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

describe("staging shares", () => {
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
    // Issue 17.6: sealed at rest; the share opens only with its key in (tmpfs) share-keys.
    const onDisk = (await readFile(join(setDir, "pending", "bob.share"), "utf8")).trim();
    expect(onDisk).not.toContain(shares[1]!.split(":")[5]);
    expect(onDisk).toMatch(new RegExp(`^signstar-sealed-share-v1:${record.setId}:bob:[0-9a-f]{24}:[0-9a-f]+$`));
    expect(await unsealShare(store.root, { setId: record.setId, user: "bob" }, onDisk)).toBe(shares[1]);
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

  it("refuses bad assignments and leaves nothing behind", async () => {
    const { shares, record } = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
    const other = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
    await expectRejected(store.stageShares(record, [{ user: "alice", gid: 0, share: shares[0]! }]), "parameters", `share set ${record.setId} has 3 shares, but 1 were assigned`);
    await expectRejected(
      store.stageShares(record, [{ user: "alice", gid: 0, share: shares[0]! }, { user: "alice", gid: 0, share: shares[1]! }, { user: "bob", gid: 0, share: shares[2]! }]),
      "holder",
      "user alice was assigned more than one share",
    );
    await expectRejected(
      store.stageShares(record, [{ user: "alice", gid: 0, share: shares[0]! }, { user: "bob", gid: 0, share: shares[0]! }, { user: "carol", gid: 0, share: shares[2]! }]),
      "duplicate",
      "share 1 was assigned more than once",
    );
    await expectRejected(
      store.stageShares(record, [{ user: "alice", gid: 0, share: shares[0]! }, { user: "bob", gid: 0, share: other.shares[1]! }, { user: "carol", gid: 0, share: shares[2]! }]),
      "set",
      /^the share belongs to another share set/,
    );
    await expectRejected(
      store.stageShares(record, [{ user: "../alice", gid: 0, share: shares[0]! }, { user: "bob", gid: 0, share: shares[1]! }, { user: "carol", gid: 0, share: shares[2]! }]),
      "holder",
      /^the system user name "..\/alice" is invalid/,
      ExitCode.Denied,
    );
    expect(await tree(root)).toEqual([]);
    expect(await store.readShareSet()).toBeUndefined();
    await expectRejected(store.claimStagedShare("alice"), "no-share-set", /^no share set is recorded on this host/, ExitCode.Config);
  });

  it("refuses to stage a set twice and leaves nothing behind when the commit fails", async () => {
    const { shares, record } = await staged();
    await expectRejected(
      store.stageShares(record, USERS.map((user, i) => ({ user, gid: 0, share: shares[i]! }))),
      "set",
      `share set ${record.setId} is already staged`,
    );
    const next = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 2 });
    await rm(store.recordPath);
    await mkdir(store.recordPath); // rename over a directory fails: the commit point is never reached
    await expect(store.stageShares(next.record, USERS.map((user, i) => ({ user, gid: 0, share: next.shares[i]! })))).rejects.toThrow();
    const names = await readdir(store.stateDir);
    expect(names.filter((n) => n.includes(next.record.setId))).toEqual([]);
    expect(names).toContain(record.setId);
    expect(await tree(join(store.stateDir, record.setId))).toEqual(USERS.map((u) => `pending/${u}.share`));
  });

  it("a new set replaces the old one and removes its undelivered shares", async () => {
    const first = await staged(1);
    const second = await staged(2);
    expect(first.record.setId).not.toBe(second.record.setId);
    expect((await readdir(store.stateDir)).sort()).toEqual([second.record.setId, "record.json"].sort());
    expect((await store.loadShareSet()).record.setId).toBe(second.record.setId);
    expect(await take("alice")).toBe(second.shares[0]);
  });

  it("refuses a record whose holders do not match the share set", async () => {
    await staged();
    const doc = JSON.parse(await readFile(store.recordPath, "utf8")) as { holders: { index: number; user: string }[] };
    doc.holders[1]!.index = 1;
    await writeFile(store.recordPath, JSON.stringify(doc), { mode: 0o600 });
    await expectRejected(store.readShareSet(), "record", `${store.recordPath}: invalid share-set record: holders do not match the share set`, ExitCode.Secret);
    await expectRejected(store.claimStagedShare("alice"), "record", /holders do not match the share set$/, ExitCode.Secret);
  });
});

describe("claiming staged shares", () => {
  it("a claim moves the share to claimed/; commit wipes it and leaves a 0600 marker without share data", async () => {
    const { shares, record } = await staged();
    const setDir = join(store.stateDir, record.setId);
    const claim = await store.claimStagedShare("bob");
    expect(claim.share).toBe(shares[1]);
    expect(claim.index).toBe(2);
    expect(await tree(setDir)).toEqual(["claimed/bob.share", "pending/alice.share", "pending/carol.share"]);
    expect(await modeOf(join(setDir, "claimed", "bob.share"))).toBe(0o600);
    // while claimed, nobody else gets it
    await expectRejected(
      store.claimStagedShare("bob"),
      "already-downloaded",
      `user bob already downloaded share 2 of set ${record.setId}; it is no longer on this host`,
      ExitCode.Denied,
    );
    await claim.commit(T0);
    expect(await tree(setDir)).toEqual(["fetched/bob", "pending/alice.share", "pending/carol.share"]);
    const marker = join(setDir, "fetched", "bob");
    expect(await modeOf(marker)).toBe(0o600);
    expect((await lstat(marker)).uid).toBe(0);
    expect(JSON.parse(await readFile(marker, "utf8"))).toEqual({ index: 2, fetchedAt: "2025-01-01T00:00:00.000Z" });
    // commit and release after commit change nothing
    await claim.commit(T0 + 1);
    await claim.release();
    expect(await tree(setDir)).toEqual(["fetched/bob", "pending/alice.share", "pending/carol.share"]);
    expect(JSON.parse(await readFile(marker, "utf8"))).toEqual({ index: 2, fetchedAt: "2025-01-01T00:00:00.000Z" });
    await expectRejected(store.claimStagedShare("bob"), "already-downloaded", /^user bob already downloaded share 2 /, ExitCode.Denied);
  });

  it("each holder gets its own share exactly once; afterwards no share is left on the host", async () => {
    const { shares, record } = await staged();
    for (const [i, u] of USERS.entries()) expect(await take(u)).toBe(shares[i]);
    expect(await tree(join(store.stateDir, record.setId))).toEqual(USERS.map((u) => `fetched/${u}`));
    for (const f of await tree(store.stateDir)) {
      const text = await readFile(join(store.stateDir, f), "utf8");
      for (const s of shares) expect(text).not.toContain(s.split(":")[5]);
    }
    for (const u of USERS) await expectRejected(store.claimStagedShare(u), "already-downloaded", new RegExp(`^user ${u} already downloaded`), ExitCode.Denied);
  });

  it("refuses users who are not shareholders and invalid user names", async () => {
    const { record } = await staged();
    await expectRejected(store.claimStagedShare("mallory"), "holder", `user mallory is not a shareholder of share set ${record.setId}`, ExitCode.Denied);
    await expectRejected(store.claimStagedShare("../alice"), "holder", /^the system user name "..\/alice" is invalid/, ExitCode.Denied);
  });

  it("concurrent claims of the same share: exactly one gets it", async () => {
    const { shares } = await staged();
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => store.claimStagedShare("alice")));
    const ok = results.filter((r) => r.status === "fulfilled");
    expect(ok).toHaveLength(1);
    const claim = ok[0]!.value;
    expect(claim.share).toBe(shares[0]);
    for (const r of results) {
      if (r.status === "rejected") expect((r.reason as ShareError).problem).toBe("already-downloaded");
    }
    await claim.commit();
  });

  it("a claim that is released (delivery failed) can be claimed again", async () => {
    const { shares, record } = await staged();
    const claim = await store.claimStagedShare("carol");
    expect(claim.share).toBe(shares[2]);
    await claim.release();
    expect(await tree(join(store.stateDir, record.setId))).toEqual(USERS.map((u) => `pending/${u}.share`));
    await claim.commit(); // after release: no effect
    expect(await readdir(join(store.stateDir, record.setId, "fetched"))).toEqual([]);
    expect(await take("carol")).toBe(shares[2]);
  });

  it("a staged share that fails its checks is put back and the error names the check", async () => {
    const { shares, record } = await staged();
    const setDir = join(store.stateDir, record.setId);
    const pending = join(setDir, "pending", "bob.share");
    const claimed = join(setDir, "claimed", "bob.share");
    const parsed = parseShareLine(shares[1]!);
    const tampered = formatShareLine({ ...parsed, data: `${parsed.data.startsWith("00") ? "11" : "00"}${parsed.data.slice(2)}` });
    expect(tampered).not.toBe(shares[1]);
    const bob = { setId: record.setId, user: "bob" };
    await writeFile(pending, `${await sealShare(store.root, bob, tampered)}\n`, { mode: 0o600 });
    await expectRejected(store.claimStagedShare("bob"), "commitment", /^share 2 does not match the host's commitment/);
    expect(await tree(setDir)).toEqual(USERS.map((u) => `pending/${u}.share`));
    // A share in the clear is not a staged share (staging always seals).
    await writeFile(pending, `${shares[1]!}\n`, { mode: 0o600 });
    await expectRejected(store.claimStagedShare("bob"), "storage", `the staged share of user bob in set ${record.setId} is not a sealed share of theirs`, ExitCode.Secret);
    // Sealed for another holder: its AAD names alice, so it does not open as bob's.
    await writeFile(pending, `${(await sealShare(store.root, { setId: record.setId, user: "alice" }, shares[1]!)).replace(":alice:", ":bob:")}\n`, { mode: 0o600 });
    await expectRejected(store.claimStagedShare("bob"), "storage", /does not open with its key/, ExitCode.Secret);

    await writeFile(pending, `${await sealShare(store.root, bob, shares[1]!)}\n`, { mode: 0o600 });
    await chmod(pending, 0o644);
    await expect(store.claimStagedShare("bob")).rejects.toThrow(`secret file ${claimed} has mode 0644, but 0600 is required`);
    expect(await tree(setDir)).toEqual(USERS.map((u) => `pending/${u}.share`));
    await chmod(pending, 0o600);
    expect(await take("bob")).toBe(shares[1]);
  });
});

describe("the whole library story", () => {
  it("generate → split → stage → every holder gets its share → a threshold of them gives the credentials back", async () => {
    const creds = generateAdminCredentials({ iteration: 3, nethsm: { administrators: [netHsmUserId("ns1~admin")] }, pkcs11Tokens: [{ label: "tok" }] });
    const { shares, record } = splitSecret(Buffer.from(serializeAdminCredentials(creds)), { threshold: 2, shares: 3, iteration: 3 });
    await store.stageShares(record, USERS.map((user, i) => ({ user, gid: 0, share: shares[i]! })));
    const delivered = new Map<string, string>();
    for (const u of USERS) delivered.set(u, await take(u));
    // nothing on the host contains the admin secret or a share any more
    for (const f of await tree(root)) {
      const text = await readFile(join(root, f), "utf8");
      expect(text).not.toContain(creds.nethsm!.unlockPassphrase);
      for (const s of shares) expect(text).not.toContain(s.split(":")[5]);
    }
    const { record: recorded } = await store.loadShareSet();
    const two = [delivered.get("carol")!, delivered.get("alice")!].map((s) => verifyShare(s, recorded));
    expect(() => combineShares(two.slice(0, 1), recorded)).toThrow(`only 1 of the 2 required shares of set ${record.setId} are present`);
    const secret = combineShares(two, recorded);
    expect(parseAdminCredentials(Buffer.from(secret).toString("utf8"))).toEqual(creds);
  });
});
