// configure-build on the live account database: real useradd/usermod of test-prefixed users; files below a
// temporary root (so the machine's /etc/ssh is never touched).
import { chmod, lstat, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureBuild } from "../../lib/host/configure-build.js";
import { TestUsers, lookup } from "../support/users.js";
import { KEY_A, KEY_E, hostConfig } from "./fixtures.js";
import type { Config } from "../../lib/config/model.js";

const exec = promisify(execFile);
const users = new TestUsers();
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-acct-"));
  await chmod(root, 0o755);
});
afterAll(async () => {
  await users.removeAll();
  await rm(root, { recursive: true, force: true });
});

async function apply(config: Config): Promise<string[]> {
  const lines: string[] = [];
  await configureBuild({ config, root, manageUsers: true, out: (l) => lines.push(l) });
  return lines;
}

const shadowField = async (name: string): Promise<string | undefined> => (await exec("getent", ["shadow", name])).stdout.split(":")[1];

describe("configureBuild managing Unix accounts", () => {
  it("creates system users (own group, /bin/sh, password '*', home 0700) once, then has nothing to do", async () => {
    const signer = users.name("signer");
    const local = users.name("local");
    const config = hostConfig({ signer: { name: signer, key: KEY_E }, hermetic: { name: local } });
    const lines = await apply(config);
    const home = `${root}/var/lib/signstar/home/${signer}`;
    expect(lines).toContain(
      `create user ${signer}: useradd --system --user-group --no-create-home --home-dir ${home} --shell /bin/sh --password '*' ${signer}`,
    );
    expect(lines).toContain(`create home ${home}`);
    const entry = await lookup(signer);
    expect(entry?.home).toBe(home);
    expect(entry?.uid).toBeLessThan(1000); // --system
    const { stdout: group } = await exec("id", ["-gn", signer]);
    expect(group.trim()).toBe(signer);
    expect((await exec("getent", ["passwd", signer])).stdout.trim().endsWith(":/bin/sh")).toBe(true);
    expect(await shadowField(signer)).toBe("*"); // not "!": sshd would refuse a locked account
    const st = await lstat(home);
    expect([st.isDirectory(), st.mode & 0o7777, st.uid, st.gid]).toEqual([true, 0o700, entry?.uid, entry?.gid]);
    expect(await lookup(local)).toBeDefined();

    expect(await apply(config)).toEqual(["nothing to do"]);
  });

  it("corrects a drifted account (shell, locked password, home mode) and reports each change", async () => {
    const signer = users.name("signer");
    const local = users.name("local");
    const config = hostConfig({ signer: { name: signer, key: KEY_E }, hermetic: { name: local } });
    await exec("usermod", ["--shell", "/bin/bash", "--lock", signer]);
    const home = `${root}/var/lib/signstar/home/${signer}`;
    await chmod(home, 0o755);
    const lines = await apply(config);
    expect(lines).toEqual([
      `update user ${signer} (shell /bin/bash -> /bin/sh, password -> none (key authentication only)): usermod --shell /bin/sh --password '*' ${signer}`,
      `fix owner/mode of home ${home}`,
    ]);
    expect(await shadowField(signer)).toBe("*");
    expect((await lstat(home)).mode & 0o7777).toBe(0o700);
    expect(await apply(config)).toEqual(["nothing to do"]);
  });

  it("never deletes an account that left the configuration, only its files, and says so", async () => {
    const signer = users.name("signer");
    const local = users.name("local");
    const lines = await apply(hostConfig({ hermetic: { name: local }, wireguard: { name: users.name("wg"), key: KEY_A } }));
    expect(lines.filter((l) => l.startsWith("remove "))).toHaveLength(3);
    expect(lines).toContain(
      `note: Unix user ${signer} is kept: it left the configuration, but accounts are never deleted automatically (remove it with: userdel ${signer})`,
    );
    expect(await lookup(signer)).toBeDefined();
  });

  it("refuses to take over uid 0", async () => {
    await expect(apply(hostConfig({ hermetic: { name: "root" } }))).rejects.toThrow(/refusing to manage user "root": it has uid 0/);
  });
});
