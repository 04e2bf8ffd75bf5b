/**
 * Issue 12.4: `signstar-configure-build --root DIR` stages a tree for a system that sees DIR at / (an image). No
 * rendered file, link or printed command names DIR; the tree deployed at / on a host (a private host: DIR copied
 * onto its /, the printed account commands run, tmpfiles.d applied as at boot) passes `sshd -t` and serves a
 * user over real sshd. A tree with its own account files gets its users there (`useradd --prefix DIR`), with
 * the target's home in DIR/etc/passwd and nothing on this machine.
 */
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderConfig } from "../../lib/config/render.js";
import { parseConfig } from "../../lib/config/load.js";
import { run, type RunResult } from "../support/run.js";
import { startProductionHost } from "../support/production-host.js";
import { generateSshKey, runSsh, type SshKey } from "../support/sshd.js";
import { lookup } from "../support/users.js";
import { softHsmConfig } from "../support/softhsm-config.js";

const BIN = new URL("../../dist/bin/signstar-configure-build.js", import.meta.url).pathname;
const tag = Math.random().toString(36).slice(2, 8);
const SIGNER = `st${tag}-signer`;
const METRICS = `st${tag}-metrics`;
let work: string;
let configFile: string;
let keys: Map<string, SshKey>;

function configText(): string {
  const text = softHsmConfig({
    tokens: ["staged"],
    signers: [{ user: SIGNER, publicKey: keys.get(SIGNER)!.publicKey, token: "staged", key: "k", userId: "Staged <staged@example.org>" }],
    metrics: { user: METRICS, publicKey: keys.get(METRICS)!.publicKey },
  });
  return renderConfig(parseConfig(text, "staged.toml"));
}

function configureBuild(args: readonly string[]): Promise<RunResult> {
  return run(process.execPath, [BIN, "--config", configFile, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
}

/** Every regular file's content and every link's target below `dir`, by path relative to it. */
async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isSymbolicLink()) out.set(path.slice(dir.length), `-> ${await readlink(path)}`);
    else if (entry.isFile()) out.set(path.slice(dir.length), await readFile(path, "utf8"));
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-staged-"));
  keys = new Map();
  for (const user of [SIGNER, METRICS]) keys.set(user, await generateSshKey(work, user));
  configFile = join(work, "config.toml");
  await writeFile(configFile, configText(), { mode: 0o644 });
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("configure-build --root: a tree for a system that sees it at /", () => {
  it("names no staging path; deployed at / it passes sshd -t and serves the metrics user over sshd", async () => {
    const dir = join(work, "image");
    await mkdir(dir, { mode: 0o755 });
    const r = await configureBuild(["--root", dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // Only the lines naming what is written (or what is missing there) name the staging directory.
    for (const line of r.stdout.split("\n").filter((l) => l.includes(dir))) expect(line).toMatch(/^create \/|^note: user accounts are not changed below --root \(\S+\/etc\/passwd does not exist\)/);
    const files = await tree(dir);
    expect([...files.keys()]).toContain(`/etc/ssh/sshd_config.d/10-signstar-user-${METRICS}.conf`);
    for (const [path, content] of files) expect(content, path).not.toContain(dir);
    // The accounts the target needs, with the target's homes.
    const commands = r.stdout.split("\n").flatMap((l) => (/^note: {3}((?:groupadd|useradd) .*?)(?: {2}\(unless it exists\))?$/.exec(l) ?? []).slice(1));
    expect(commands.find((c) => c.includes(` ${SIGNER}`) && c.startsWith("useradd"))).toContain(`--home-dir /var/lib/signstar/home/${SIGNER} `);

    // Deployed: the tree unpacked at / of a host with Signstar installed, the printed commands run, then boot's tmpfiles.
    const host = await startProductionHost();
    try {
      await host.run(["cp", "-a", `${dir}/.`, "/"]).then((c) => expect(c.stderr).toBe(""));
      await host.writeConfig(await readFile(configFile, "utf8"));
      for (const c of commands) {
        const done = await host.run(["sh", "-c", c.startsWith("groupadd") ? `getent group ${c.split(" ").at(-1)!} >/dev/null || ${c}` : c]);
        expect(done.stderr, c).toBe("");
        expect(done.code, c).toBe(0);
      }
      const tmpfiles = await host.run(["sh", "-c", "systemd-tmpfiles --create /usr/lib/tmpfiles.d/signstar.conf /usr/lib/tmpfiles.d/signstar-user-*.conf"]);
      expect(tmpfiles.code, tmpfiles.stderr).toBe(0);
      expect((await host.run(["stat", "-c", "%a %U", `/var/lib/signstar/home/${METRICS}`, `/var/lib/signstar/metrics/signatures/${SIGNER}`])).stdout).toBe(
        `755 root\n755 ${SIGNER}\n`,
      );
      expect((await host.run(["getent", "passwd", METRICS])).stdout).toContain(`:/var/lib/signstar/home/${METRICS}:/bin/sh\n`);

      // What sshd makes of it, as the target's sshd reads it: Debian's sshd_config including the drop-ins.
      await mkdir(host.path("/run/sshd"), { recursive: true, mode: 0o755 });
      const t = await host.run(["/usr/sbin/sshd", "-t", "-f", "/etc/ssh/sshd_config"]);
      expect(t.stderr).toBe("");
      expect(t.code).toBe(0);
      const effective = await host.run(["/usr/sbin/sshd", "-T", "-f", "/etc/ssh/sshd_config", "-C", `user=${METRICS},host=localhost,addr=127.0.0.1`]);
      expect(effective.stdout).toContain(`authorizedkeysfile /etc/ssh/signstar-user-${METRICS}.authorized_keys\n`);
      expect(effective.stdout).toContain("forcecommand /usr/bin/signstar-download-metrics\n");

      const sshd = await host.startSshd();
      const scrape = await runSsh({ sshd, user: METRICS, identity: keys.get(METRICS)!.privateKeyFile });
      expect(scrape.stderr).toBe("");
      expect(scrape.code).toBe(0);
      expect(scrape.stdout).toMatch(/^signstar_metrics_timestamp_seconds \d+$/m);
      expect(scrape.stdout).toContain(`signstar_signing_key_configured{backend="pkcs11",key="pkcs11:token(label=staged):key(label=k)",user="${SIGNER}"} 1\n`);
    } finally {
      await host.stop();
    }
  }, 120_000);

  it("a tree with its own account files gets the users there (useradd --prefix), with the target's homes", async () => {
    const dir = join(work, "image-with-accounts");
    await mkdir(join(dir, "etc"), { recursive: true, mode: 0o755 });
    // An image's account database: root only, and the machine's login.defs (the uid ranges useradd reads).
    await writeFile(join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n", { mode: 0o644 });
    await writeFile(join(dir, "etc/group"), "root:x:0:\n", { mode: 0o644 });
    await writeFile(join(dir, "etc/shadow"), "root:*:19000:0:99999:7:::\n", { mode: 0o640 });
    await writeFile(join(dir, "etc/gshadow"), "root:*::\n", { mode: 0o640 });
    await copyFile("/etc/login.defs", join(dir, "etc/login.defs"));
    const r = await configureBuild(["--root", dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`create user ${SIGNER}: useradd --prefix ${dir} --system --user-group --groups `);
    expect(r.stdout).toContain(`--home-dir /var/lib/signstar/home/${SIGNER} --shell /bin/sh --password '*' ${SIGNER}\n`);
    expect(r.stdout).not.toContain("user accounts are not changed");
    const passwd = await readFile(join(dir, "etc/passwd"), "utf8");
    const entry = passwd.split("\n").find((l) => l.startsWith(`${SIGNER}:`))?.split(":");
    expect(entry?.[5]).toBe(`/var/lib/signstar/home/${SIGNER}`);
    expect(passwd).toContain(`:/var/lib/signstar/home/${METRICS}:/bin/sh\n`);
    // Homes and the signer's counters are staged with the image's ids; this machine has no such user.
    const home = await lstat(join(dir, "var/lib/signstar/home", SIGNER));
    expect([home.isDirectory(), home.mode & 0o7777, home.uid]).toEqual([true, 0o755, 0]);
    expect((await lstat(join(dir, "var/lib/signstar/metrics/signatures", SIGNER))).uid).toBe(Number(entry?.[2]));
    expect(await lookup(SIGNER)).toBeUndefined();
    // The token groups are the image's too, and the signer is in them.
    const group = await readFile(join(dir, "etc/group"), "utf8");
    expect(group).toMatch(new RegExp(`^softhsm:x:\\d+:.*${SIGNER}`, "m"));
    for (const [path, content] of await tree(join(dir, "etc/ssh"))) expect(content, path).not.toContain(dir);

    const again = await configureBuild(["--root", dir]);
    expect(again.stdout.split("\n")[0]).toBe("nothing to do");
    expect(again.code).toBe(0);
  }, 60_000);
});
