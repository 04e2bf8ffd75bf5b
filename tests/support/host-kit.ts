/**
 * Parts the test hosts (signing-host.ts, operator-host.ts, shares-host.ts) are built from: a cleanup stack,
 * the host directory, test users with their homes, the token group, wrapper scripts for the executables
 * sshd runs, and sharing a SoftHSM token directory with the group.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { REPO_ROOT } from "./repo.js";
import { TestUsers } from "./users.js";

const HOME_BASE = hostLayout().homeBase;

const exec = promisify(execFile);

/** Undo steps, run last-in first-out; a failing step does not stop the others. */
export class Cleanups {
  readonly #steps: (() => Promise<unknown>)[] = [];

  push(step: () => Promise<unknown>): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.#steps.reverse()) await step().catch(() => undefined);
  }
}

/** A fresh temporary directory (0755: the test users walk through it), removed on cleanup. */
export async function hostDir(prefix: string, cleanups: Cleanups): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  return dir;
}

/** Test users, removed on cleanup together with their homes below HOME_BASE. */
export function hostUsers(cleanups: Cleanups): TestUsers {
  const users = new TestUsers();
  cleanups.push(() => users.removeAll());
  cleanups.push(async () => {
    for (const u of await users.list()) await rm(join(HOME_BASE, u.name), { recursive: true, force: true });
  });
  return users;
}

/** A system group for the users that share the SoftHSM token (removed with the users). */
export async function tokenGroup(users: TestUsers): Promise<string> {
  const group = users.name("hsm");
  await exec("groupadd", ["--system", group]);
  return group;
}

/** Creates binDir with one wrapper per executable that runs dist/bin/<name>.js (plus `extraArgs(name)`). */
export async function writeWrappers(binDir: string, names: readonly string[], extraArgs: (name: string) => string = () => ""): Promise<void> {
  await mkdir(binDir, { mode: 0o755 });
  for (const name of names) {
    const script = `#!/bin/sh\nexec ${process.execPath} ${join(REPO_ROOT, "dist", "bin", `${name}.js`)}${extraArgs(name)} "$@"\n`;
    await writeFile(join(binDir, name), script, { mode: 0o755 });
  }
}

/** Token files: group read/write for the signers (SoftHSM takes file locks), nobody else. */
export async function shareWithGroup(path: string, group: string): Promise<void> {
  await exec("chgrp", ["-R", group, path]);
  await exec("chmod", ["-R", "g+rwX", path]);
  const walk = async (p: string): Promise<void> => {
    if (!(await stat(p)).isDirectory()) return;
    await chmod(p, 0o2770);
    for (const entry of await readdir(p)) await walk(join(p, entry));
  };
  await walk(path);
}

/** Every regular file below `dir`, at any depth (none when `dir` is missing): what a host left on disk. */
export async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
