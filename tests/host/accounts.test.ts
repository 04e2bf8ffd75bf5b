// configure-build on the live account database: real useradd/usermod of test-prefixed users; files below a
// temporary root (so the machine's /etc/ssh is never touched).
import { chmod, chown, lstat, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { configureBuild } from "../../lib/host/configure-build.js";
import { tokenGroupName } from "../../lib/config/token-access.js";
import { TestUsers, lookup } from "../support/users.js";
import { KEY_A, KEY_E, hostConfig } from "./fixtures.js";
import type { Config } from "../../lib/config/model.js";

const exec = promisify(execFile);
const users = new TestUsers();
const roots: string[] = [];

afterAll(async () => {
  await users.removeAll();
  // The fixture's token (label "signstar") gets its access group on this machine (lib/config/token-access.ts).
  await exec("groupdel", [tokenGroupName({ label: "signstar" })]).catch(() => undefined);
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** A fresh temporary root per test, so no test sees files another one rendered. */
async function freshRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "signstar-acct-"));
  await chmod(root, 0o755);
  roots.push(root);
  return root;
}

async function apply(root: string, config: Config): Promise<string[]> {
  const lines: string[] = [];
  // Live accounts whose homes are the ones below root: the tree is used in place.
  await configureBuild({ config, root, inPlace: true, manageUsers: true, out: (l) => lines.push(l) });
  return lines;
}

const shadowField = async (name: string): Promise<string | undefined> => (await exec("getent", ["shadow", name])).stdout.split(":")[1];
const shellOf = async (name: string): Promise<string | undefined> => (await exec("getent", ["passwd", name])).stdout.trim().split(":")[6];

describe("configureBuild managing Unix accounts", () => {
  it("creates system users (own group, /bin/sh, password '*', home 0700) once, then has nothing to do", async () => {
    const root = await freshRoot();
    const signer = users.name("signer1");
    const local = users.name("local1");
    const config = hostConfig({ signer: { name: signer, key: KEY_E }, hermetic: { name: local } });
    const lines = await apply(root, config);
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
    expect(await shellOf(signer)).toBe("/bin/sh");
    expect(await shadowField(signer)).toBe("*"); // not "!": sshd would refuse a locked account
    const st = await lstat(home);
    // Root-owned: the user must not be able to swap anything on the path root later writes below.
    expect([st.isDirectory(), st.mode & 0o7777, st.uid, st.gid]).toEqual([true, 0o755, 0, 0]);
    const localEntry = await lookup(local);
    expect([localEntry?.name, localEntry?.home]).toEqual([local, `${root}/var/lib/signstar/home/${local}`]);
    expect(await shellOf(local)).toBe("/bin/sh");

    expect(await apply(root, config)).toEqual(["nothing to do"]);
  });

  it("corrects a drifted account (shell, locked password, home mode) and reports each change", async () => {
    const root = await freshRoot();
    const signer = users.name("signer2");
    const local = users.name("local2");
    const config = hostConfig({ signer: { name: signer, key: KEY_E }, hermetic: { name: local } });
    await apply(root, config);
    await exec("usermod", ["--shell", "/bin/bash", "--lock", signer]);
    const home = `${root}/var/lib/signstar/home/${signer}`;
    await chmod(home, 0o700);
    await chown(home, (await lookup(signer))!.uid, 0);
    const lines = await apply(root, config);
    expect(lines).toEqual([
      `update user ${signer} (shell /bin/bash -> /bin/sh, password -> none (key authentication only)): usermod --shell /bin/sh --password '*' ${signer}`,
      `fix owner/mode of home ${home}`,
    ]);
    expect(await shellOf(signer)).toBe("/bin/sh");
    expect(await shadowField(signer)).toBe("*");
    const fixed = await lstat(home);
    expect([fixed.mode & 0o7777, fixed.uid]).toEqual([0o755, 0]);
    expect(await apply(root, config)).toEqual(["nothing to do"]);
  });

  it("never deletes an account that left the configuration, only its files, and says so", async () => {
    const root = await freshRoot();
    const signer = users.name("signer3");
    const local = users.name("local3");
    await apply(root, hostConfig({ signer: { name: signer, key: KEY_E }, hermetic: { name: local } }));
    const home = `${root}/var/lib/signstar/home/${signer}`;
    const lines = await apply(root, hostConfig({ hermetic: { name: local }, wireguard: { name: users.name("wg3"), key: KEY_A } }));
    const gone = `(user ${signer} is no longer in the configuration)`;
    expect(lines.filter((l) => l.startsWith("remove "))).toEqual([
      `remove ${root}/usr/lib/tmpfiles.d/signstar-user-${signer}.conf ${gone}`,
      `remove ${root}/etc/ssh/signstar-user-${signer}.authorized_keys ${gone}`,
      `remove ${root}/etc/ssh/sshd_config.d/10-signstar-user-${signer}.conf ${gone}`,
      `remove ${root}/etc/systemd/system/sockets.target.wants/signstar-signer@${signer}.socket ${gone}`,
    ]);
    expect(lines).toContain(
      `note: Unix user ${signer} is kept: it left the configuration, but accounts are never deleted automatically (remove it with: userdel ${signer})`,
    );
    const kept = await lookup(signer);
    expect([kept?.name, kept?.home]).toEqual([signer, home]);
    expect(await shellOf(signer)).toBe("/bin/sh");
  });

  it("refuses to take over uid 0", async () => {
    const root = await freshRoot();
    await expect(apply(root, hostConfig({ hermetic: { name: "root" } }))).rejects.toThrow(/refusing to manage user "root": it has uid 0/);
  });
});
