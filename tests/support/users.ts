/**
 * Real Unix test users with a unique prefix (`sst<4 hex>-`), so parallel test files never collide and
 * teardown can find every account and group it made (also those made by code under test, e.g. configure-build).
 * Call `removeAll()` in afterAll: it removes every user and group with the prefix, and the homes it created.
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { readFile, rm, mkdir, chown, chmod } from "node:fs/promises";
import { dirname } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface AddUserOptions {
  /** Home directory in passwd (default /nonexistent). */
  readonly home?: string;
  /** Create the home (root:root 0755, as signstar-configure-build makes it) and remove it in removeAll. */
  readonly createHome?: boolean;
  readonly shell?: string;
}

export class TestUsers {
  readonly prefix: string;
  private readonly homes: string[] = [];

  constructor() {
    this.prefix = `sst${randomBytes(2).toString("hex")}-`;
  }

  /** The full user name for a suffix (user names must stay ≤ 32 characters). */
  name(suffix: string): string {
    const name = this.prefix + suffix;
    if (!/^[a-z][a-z0-9_-]*$/.test(name) || name.length > 32) throw new Error(`bad test user name ${name}`);
    return name;
  }

  async add(suffix: string, opts: AddUserOptions = {}): Promise<TestUser> {
    const name = this.name(suffix);
    const home = opts.home ?? "/nonexistent";
    await exec("useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", home, "--shell", opts.shell ?? "/bin/sh", "--password", "*", name]);
    const user = await lookup(name);
    if (!user) throw new Error(`useradd did not create ${name}`);
    if (opts.createHome) {
      await mkdir(dirname(home), { recursive: true, mode: 0o755 });
      await mkdir(home, { mode: 0o755 });
      await chown(home, 0, 0);
      await chmod(home, 0o755);
      this.homes.push(home);
    }
    return user;
  }

  /** Every passwd entry that carries this prefix (including users created by the code under test). */
  async list(): Promise<TestUser[]> {
    const passwd = await readFile("/etc/passwd", "utf8");
    return passwd
      .split("\n")
      .map((line) => line.split(":"))
      .filter((f) => f[0]?.startsWith(this.prefix))
      .map((f) => ({ name: f[0] ?? "", uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "" }));
  }

  /** Removes all users and groups with the prefix and the homes created by add(); never throws. */
  async removeAll(): Promise<void> {
    for (const user of await this.list().catch(() => [])) {
      await exec("userdel", ["--force", user.name]).catch(() => undefined);
    }
    const group = await readFile("/etc/group", "utf8").catch(() => "");
    for (const line of group.split("\n")) {
      const name = line.split(":")[0];
      if (name?.startsWith(this.prefix)) await exec("groupdel", [name]).catch(() => undefined);
    }
    for (const home of this.homes.splice(0)) await rm(home, { recursive: true, force: true });
  }
}

export async function lookup(name: string): Promise<TestUser | undefined> {
  try {
    const { stdout } = await exec("getent", ["passwd", name]);
    const f = stdout.trim().split(":");
    return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "" };
  } catch {
    return undefined;
  }
}
