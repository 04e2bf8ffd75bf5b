/**
 * `signstar-admin log` (lib/admin/signing-log.ts): list verifies the whole tree before it prints, filters by key,
 * user and index, is bounded and says where to continue; export copies exactly the tree a checkpoint signs, which
 * our reader and Go's sumdb/tlog then verify; a modified entry, a dropped tile, a forked checkpoint and a wrong key
 * are each one line and a non-zero exit, nothing on stdout.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportLog, listLog, MAX_LIST_LIMIT } from "../../lib/admin/signing-log.js";
import { command as adminCommand } from "../../lib/cli/commands/signstar-admin.js";
import { ExitCode, UsageError } from "../../lib/errors.js";
import { signCheckpoint, openCheckpoint } from "../../lib/tlog/checkpoint.js";
import { LogVerifyError } from "../../lib/tlog/errors.js";
import { ed25519NoteSigner, parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch, fetchCheckpoint, verifyEntryInclusion } from "../../lib/tlog/reader.js";
import { LogWriter } from "../../lib/tlog/writer.js";
import { buildGoVerifier, goVerify } from "../support/go-tlog-verifier.js";
import { REPO_ROOT } from "../support/repo.js";
import { run } from "../support/run.js";
import { testEntry } from "../tlog/entries.js";

// The shipped example's origin, so the CLI test can use config/example-softhsm.toml as it is.
const ORIGIN = "localhost/signstar-log";
const signer = ed25519NoteSigner(ORIGIN, Uint8Array.from({ length: 32 }, (_, i) => 3 * i + 1));
const KEY_A = "ab".repeat(20);
const KEY_B = "cd".repeat(32);
const N = 300;
let work: string;
let log: string;
let go: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-admin-log-"));
  log = join(work, "log");
  go = await buildGoVerifier();
  const w = await LogWriter.open({ dir: log, signer, batchWindowMs: 1 });
  const commits: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const user = i % 2 === 0 ? "alice" : "bob";
    const r = w.reserve(user);
    // Entry 7 is released: a void entry of bob's.
    if (i === 7) w.release(r.index);
    else commits.push(w.commit(r.index, { ...testEntry(i, user), key: i % 3 === 0 ? KEY_B : KEY_A }));
  }
  await Promise.all(commits);
  await w.close();
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("log list", () => {
  it("lists every entry in order, void ones included, after verifying the tree", async () => {
    const r = await listLog(log, signer.verifierKey, {});
    expect(r.size).toBe(N);
    expect(r.next).toBeUndefined();
    expect(r.lines).toHaveLength(N);
    expect(r.lines[0]).toBe(`0 2023-11-14T22:13:20Z alice ${KEY_B} ${testEntry(0).digest}`);
    expect(r.lines[7]).toMatch(/^7 \S+Z bob void$/);
    expect(r.lines[N - 1]).toMatch(new RegExp(`^${N - 1} \\S+ bob ${KEY_A} [0-9a-f]{128}$`));
  });

  it("filters by user, key (any case) and first index; bounded, with the index to continue from", async () => {
    const bob = await listLog(log, signer.verifierKey, { user: "bob" });
    expect(bob.lines).toHaveLength(N / 2);
    expect(bob.lines.every((l) => l.split(" ")[2] === "bob")).toBe(true);
    const keyB = await listLog(log, signer.verifierKey, { key: KEY_B.toUpperCase() });
    expect(keyB.lines).toHaveLength(N / 3);
    expect(keyB.lines.every((l) => l.split(" ")[3] === KEY_B)).toBe(true);
    const page = await listLog(log, signer.verifierKey, { user: "alice", key: KEY_A, since: 250, limit: 5 });
    expect(page.lines.map((l) => Number(l.split(" ")[0]))).toEqual([250, 254, 256, 260, 262]);
    expect(page.next).toBe(266);
    const rest = await listLog(log, signer.verifierKey, { user: "alice", key: KEY_A, since: page.next! });
    expect(rest.lines[0]!.startsWith("266 ")).toBe(true);
    expect(rest.next).toBeUndefined();
  });

  it("refuses bad filters with a usage error", async () => {
    for (const bad of [{ key: "xyz" }, { user: "no such/user" }, { since: -1 }, { limit: 0 }, { limit: MAX_LIST_LIMIT + 1 }]) {
      await expect(listLog(log, signer.verifierKey, bad), JSON.stringify(bad)).rejects.toThrow(UsageError);
    }
    // The command table names the same bound.
    expect(adminCommand.options.find((o) => o.name === "limit")?.description).toContain(String(MAX_LIST_LIMIT));
  });

  it("detects a modified entry, a dropped tile, a forked checkpoint and a wrong key", async () => {
    const copy = async (name: string): Promise<string> => {
      const dir = join(work, name);
      await cp(log, dir, { recursive: true });
      return dir;
    };
    // A modified entry: one byte of entry 3's digest in the first (full) bundle.
    const modified = await copy("modified");
    const bundle = join(modified, "tile/entries/000");
    const bytes = await readFile(bundle);
    const at = bytes.indexOf(Buffer.from(testEntry(3, "bob").digest));
    expect(at).toBeGreaterThan(0);
    bytes[at] = bytes[at] === 0x30 ? 0x31 : 0x30;
    await writeFile(bundle, bytes);
    await expect(listLog(modified, signer.verifierKey, {})).rejects.toThrow(/entry 3 does not match/);
    // A dropped tile: the partial level-0 tile of entries 256-299.
    const dropped = await copy("dropped");
    await rm(join(dropped, "tile/0/001.p/44"));
    await expect(listLog(dropped, signer.verifierKey, {})).rejects.toThrow(LogVerifyError);
    // A forked checkpoint: the log key signs another root for the same size.
    const forked = await copy("forked");
    const cp0 = openCheckpoint(await readFile(join(log, "checkpoint")), parseVerifierKey(signer.verifierKey));
    await writeFile(join(forked, "checkpoint"), await signCheckpoint({ ...cp0, root: new Uint8Array(32).fill(9) }, signer));
    await expect(listLog(forked, signer.verifierKey, {})).rejects.toThrow(/do not hash to the root/);
    // A wrong key: the same origin, another key.
    const other = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(5));
    await expect(listLog(log, other.verifierKey, {})).rejects.toThrow(LogVerifyError);
  });
});

describe("log export", () => {
  it("copies the checkpoint and exactly its tiles and bundles; our reader and Go's verify the copy", async () => {
    const target = join(work, "export");
    expect(await exportLog(log, signer.verifierKey, target)).toBe(N);
    const fetch = directoryFetch(target);
    const { checkpoint } = await fetchCheckpoint(fetch, parseVerifierKey(signer.verifierKey));
    expect(checkpoint.size).toBe(N);
    await verifyEntryInclusion(fetch, checkpoint, N - 1);
    for (const index of ["0", "255", "256", String(N - 1)]) {
      const r = await goVerify(go, target, signer.verifierKey, "inclusion", index);
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/^ok entry/);
    }
    // Only the log's files: no lock, no temporary directory, no writer figures.
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(target)).sort()).toEqual(["checkpoint", "tile"]);
    await expect(exportLog(log, signer.verifierKey, target)).rejects.toThrow(/not empty/);
  });
});

describe("signstar-admin log, as an operator runs it", () => {
  const admin = join(REPO_ROOT, "dist", "bin", "signstar-admin.js");
  let root: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    root = join(work, "root");
    await mkdir(join(root, "var/lib/signstar"), { recursive: true });
    await cp(log, join(root, "var/lib/signstar/log"), { recursive: true });
    await writeFile(join(root, "var/lib/signstar/log.vkey"), `${signer.verifierKey}\n`, { mode: 0o644 });
    env = { PATH: process.env["PATH"], SIGNSTAR_ROOT: root, SIGNSTAR_CONFIG: join(REPO_ROOT, "config", "example-softhsm.toml") };
  });

  it("vkey, list and export print what they say; more matches than --limit are named on stderr", async () => {
    const vkey = await run(process.execPath, [admin, "log", "vkey"], { env });
    expect(vkey).toMatchObject({ code: 0, stdout: `${signer.verifierKey}\n`, stderr: "" });
    const list = await run(process.execPath, [admin, "log", "list", "--user", "alice", "--limit", "3"], { env });
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n").filter(Boolean).map((l) => l.split(" ")[0])).toEqual(["0", "2", "4"]);
    expect(list.stderr).toBe("signstar-admin: more entries match; continue with --since 6\n");
    const target = join(work, "cli-export");
    const exported = await run(process.execPath, [admin, "log", "export", target], { env });
    expect(exported).toMatchObject({ code: 0, stderr: "", stdout: `exported the signing log (${N} entries, checkpoint verified) to ${target}\n` });
  });

  it("bad input and a tampered log: one line on stderr, a documented exit code, nothing on stdout", async () => {
    const usage = await run(process.execPath, [admin, "log", "frobnicate"], { env });
    expect(usage).toMatchObject({ code: ExitCode.Usage, stdout: "" });
    const noDir = await run(process.execPath, [admin, "log", "export"], { env });
    expect(noDir).toMatchObject({ code: ExitCode.Usage, stdout: "" });
    await writeFile(join(root, "var/lib/signstar/log/tile/entries/001.p/44"), "garbage");
    const tampered = await run(process.execPath, [admin, "log", "list"], { env });
    expect(tampered.stdout).toBe("");
    expect(tampered.code).toBe(ExitCode.Denied);
    expect(tampered.stderr.trim().split("\n")).toHaveLength(1);
    await rm(join(root, "var/lib/signstar/log.vkey"));
    const noKey = await run(process.execPath, [admin, "log", "list"], { env });
    expect(noKey).toMatchObject({ code: ExitCode.Config, stdout: "" });
    expect(noKey.stderr).toMatch(/log\.vkey is missing\); run signstar-configure\n$/);
  });
});
