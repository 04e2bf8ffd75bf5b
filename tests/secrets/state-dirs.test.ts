// Root never follows a link a user planted in its state directories (review finding: root chowned/wiped
// arbitrary files through a symlinked `~/.local/state/signstar/shares`). Real users, run as root.
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clearOtherSets } from "../../lib/spool/shares.js";
import { requireUser, type PasswdEntry } from "../../lib/os/accounts.js";
import { createNonAdminSecret } from "../../lib/secrets/non-admin.js";
import { ensureStateDirs } from "../../lib/secrets/state-dirs.js";
import { removeUserTree, wipeEntries } from "../../lib/os/wipe.js";
import { TestUsers } from "../support/users.js";

const users = new TestUsers();
let dir: string;
let root: string;
let mallory: PasswdEntry;

/** A root-owned target a user would like root to damage: a directory with one file, 0640. */
async function rootTarget(name: string): Promise<{ dir: string; file: string; check: () => Promise<void> }> {
  const target = join(dir, name);
  await mkdir(target, { mode: 0o750 });
  const file = join(target, "precious");
  await writeFile(file, "root's data\n", { mode: 0o640 });
  return {
    dir: target,
    file,
    check: async () => {
      const d = await lstat(target);
      const f = await lstat(file);
      expect([d.uid, d.gid, d.mode & 0o7777, f.uid, f.gid, f.mode & 0o7777]).toEqual([0, 0, 0o750, 0, 0, 0o640]);
      expect(await readFile(file, "utf8")).toBe("root's data\n");
      expect(await readdir(target)).toEqual(["precious"]);
    },
  };
}

/** The layout before this fix: a home and `.local/state/signstar` chain owned by the user, 0700. */
async function oldUserOwnedChain(user: PasswdEntry): Promise<string> {
  const home = join(root, "var/lib/signstar/home", user.name);
  let d = home;
  for (const part of ["", ".local", "state", "signstar"]) {
    d = join(d, part);
    await mkdir(d, { recursive: true, mode: 0o700 });
    await chown(d, user.uid, user.gid);
  }
  return join(home, ".local/state/signstar");
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-state-dirs-"));
  await chmod(dir, 0o755);
  root = join(dir, "root");
  await mkdir(root, { mode: 0o755 });
  await users.add("mallory");
  mallory = await requireUser(users.name("mallory"));
});
afterAll(async () => {
  await users.removeAll();
  await rm(dir, { recursive: true, force: true });
});

describe("ensureStateDirs", () => {
  it("makes the home chain root:root 0755, secrets/ root 0711, shares/ and uploads/ the user's 0700, and takes over an old user-owned chain", async () => {
    const state = await oldUserOwnedChain(mallory);
    const home = join(root, "var/lib/signstar/home", mallory.name);
    for (const leaf of ["secrets", "shares", "uploads"] as const) await ensureStateDirs(root, mallory.name, leaf, mallory);
    for (const d of [home, join(home, ".local"), join(home, ".local/state"), state]) {
      const st = await lstat(d);
      expect([d, st.uid, st.gid, st.mode & 0o7777]).toEqual([d, 0, 0, 0o755]);
    }
    const mode = async (leaf: string) => {
      const st = await lstat(join(state, leaf));
      return [leaf, st.uid, st.gid, st.mode & 0o7777];
    };
    expect(await mode("secrets")).toEqual(["secrets", 0, 0, 0o711]);
    expect(await mode("shares")).toEqual(["shares", mallory.uid, mallory.gid, 0o700]);
    expect(await mode("uploads")).toEqual(["uploads", mallory.uid, mallory.gid, 0o700]);
  });
});

describe("a user's symbolic link on root's path", () => {
  it("clearOtherSets refuses a symlinked shares/ and leaves the root-owned target untouched", async () => {
    const user = await requireUser((await users.add("sym1")).name);
    const state = await oldUserOwnedChain(user);
    const target = await rootTarget("target-shares");
    await symlink(target.dir, join(state, "shares"));
    await expect(clearOtherSets(root, user, "0123456789abcdef")).rejects.toThrow(
      `state directory ${join(state, "shares")} is a symbolic link, which is refused`,
    );
    await target.check();
  });

  it("createNonAdminSecret refuses a symlinked .local and changes nothing below the target", async () => {
    const user = await requireUser((await users.add("sym2")).name);
    const home = join(root, "var/lib/signstar/home", user.name);
    await mkdir(home, { recursive: true, mode: 0o700 });
    await chown(home, user.uid, user.gid);
    const target = await rootTarget("target-local");
    await symlink(target.dir, join(home, ".local"));
    const error = await createNonAdminSecret({ root, systemUser: user.name, backendUser: "op1", handling: "plaintext", owner: user }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(`state directory ${join(home, ".local")} is a symbolic link, which is refused`);
    expect((error as Error).message).not.toContain("\n");
    await target.check();
    // The home itself was taken over by root: the user can no longer rename anything below it.
    const st = await lstat(home);
    expect([st.uid, st.mode & 0o7777]).toEqual([0, 0o755]);
  });

  it("ensureStateDirs refuses a component that is a file", async () => {
    const user = await requireUser((await users.add("sym3")).name);
    const state = await oldUserOwnedChain(user);
    await writeFile(join(state, "uploads"), "x");
    await expect(ensureStateDirs(root, user.name, "uploads", user)).rejects.toThrow(`state directory ${join(state, "uploads")} is not a directory`);
  });
});

describe("wiping a directory a user can write", () => {
  it("does not zero-fill a hard link to another owner's file, skips subdirectories and goes on past them", async () => {
    const spool = join(dir, "spool");
    await mkdir(spool, { mode: 0o700 });
    await chown(spool, mallory.uid, mallory.gid);
    const victim = join(dir, "victim");
    await writeFile(victim, "keep me\n", { mode: 0o644 });
    const { link } = await import("node:fs/promises");
    await link(victim, join(spool, "a-link"));
    await mkdir(join(spool, "b-subdir"));
    await symlink(victim, join(spool, "c-symlink"));
    await writeFile(join(spool, "d-own"), "share data\n", { mode: 0o600 });
    await chown(join(spool, "d-own"), mallory.uid, mallory.gid);
    const report = await wipeEntries(spool, { expectedUid: mallory.uid });
    expect(report).toEqual({ wiped: 3, failures: [], skipped: [join(spool, "b-subdir")] });
    expect(await readdir(spool)).toEqual(["b-subdir"]);
    expect(await readFile(victim, "utf8")).toBe("keep me\n");
  });

  it("removeUserTree removes a user's tree without following links out of it, and refuses a parent the user owns", async () => {
    const base = join(dir, "uploads-base");
    await mkdir(base, { mode: 0o755 });
    const tree = join(base, "holder");
    await mkdir(join(tree, "deep"), { recursive: true });
    const target = await rootTarget("target-tree");
    await symlink(target.dir, join(tree, "deep", "escape"));
    await chown(tree, mallory.uid, mallory.gid);
    await removeUserTree(tree);
    expect(await readdir(base)).toEqual([]);
    await target.check();

    const userParent = join(dir, "user-parent");
    await mkdir(join(userParent, "x"), { recursive: true });
    await chown(userParent, mallory.uid, mallory.gid);
    await expect(removeUserTree(join(userParent, "x"))).rejects.toThrow(/its parent is not a root-owned directory/);
  });
});
