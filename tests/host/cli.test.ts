// The executable itself (dist/bin/signstar-configure-build.js): argv, root check, exit codes, output.
import { access, chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderConfig } from "../../lib/config/render.js";
import { ExitCode } from "../../lib/errors.js";
import { run, type RunResult } from "../support/run.js";
import { startPrivateHost } from "../support/private-host.js";
import { packageExecutables } from "../support/production-host.js";
import { TestUsers, lookup } from "../support/users.js";
import { KEY_A, KEY_E, hostConfig } from "./fixtures.js";

const BIN = new URL("../../dist/bin/signstar-configure-build.js", import.meta.url).pathname;
const users = new TestUsers();
let dir: string;
let configFile: string;

beforeAll(async () => {
  await access(BIN).catch(() => {
    throw new Error("dist/ is missing: run `npm run build` before these tests (npm test does)");
  });
  dir = await mkdtemp(join(tmpdir(), "signstar-cb-cli-"));
  await chmod(dir, 0o755);
  configFile = join(dir, "config.toml");
  const config = hostConfig({ signer: { name: users.name("signer"), key: KEY_E }, wireguard: { name: users.name("wg"), key: KEY_A } });
  await writeFile(configFile, renderConfig(config), { mode: 0o644 });
});
afterAll(async () => {
  await users.removeAll();
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], as?: { uid: number; gid: number }): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, ...(as ?? {}) });
}

describe("signstar-configure-build", () => {
  it("--version", async () => {
    const r = await cli(["--version"]);
    expect(r.stdout).toMatch(/^signstar-configure-build \d+\.\d+\.\d+\n$/);
    expect(r.code).toBe(0);
  });

  it("usage errors: one line on stderr, exit 2, nothing on stdout", async () => {
    const r = await cli(["--frobnicate"]);
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n")).toHaveLength(2);
    expect(r.stderr).toMatch(/^signstar-configure-build: .*--frobnicate.*usage: signstar-configure-build \[--config FILE\]/);
  });

  it("refuses to run unprivileged on the live system, but renders below --root", async () => {
    const nobody = { uid: 65534, gid: 65534 };
    const denied = await cli(["--config", configFile], nobody);
    expect(denied.stderr).toBe("signstar-configure-build: This application must be run as root!\n");
    expect(denied.code).toBe(ExitCode.Denied);
    expect(denied.stdout).toBe("");

    const out = join(dir, "render-nobody");
    await rm(out, { recursive: true, force: true });
    const { mkdir } = await import("node:fs/promises");
    await mkdir(out, { mode: 0o777 });
    await chmod(out, 0o777);
    const r = await cli(["--config", configFile, "--root", out], nobody);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`create ${out}/etc/ssh/sshd_config.d/10-signstar-user-${users.name("signer")}.conf\n`);
  });

  it("--root twice: the second run has nothing to do; --bin-dir sets the ForceCommand", async () => {
    const out = join(dir, "render");
    const first = await cli(["--config", configFile, "--root", out, "--bin-dir", "/opt/signstar/bin"]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("note: warning: ForceCommand /opt/signstar/bin/signstar-download-wireguard (and 1 more) is not an executable below");
    expect(first.stdout.split("\n").filter((l) => l.startsWith("create "))).toHaveLength(10);
    const { readFile } = await import("node:fs/promises");
    expect(await readFile(join(out, `etc/ssh/sshd_config.d/10-signstar-user-${users.name("signer")}.conf`), "utf8")).toContain(
      "ForceCommand /opt/signstar/bin/signstar-download-signature\n",
    );
    const second = await cli(["--config", configFile, "--root", out, "--bin-dir", "/opt/signstar/bin"]);
    expect(second.stdout.split("\n")[0]).toBe("nothing to do");
    expect(second.code).toBe(0);
    // Issue 12.5: a run without --bin-dir keeps the directory the drop-ins name (it does not move back to /usr/bin).
    const third = await cli(["--config", configFile, "--root", out]);
    expect(third.stdout).toMatch(/^nothing to do\nnote: ForceCommands stay in \/opt\/signstar\/bin, as the existing drop-ins say/);
    expect(third.code).toBe(0);
  });

  it("--dry-run on the live system changes nothing: no users, no files", async () => {
    const before = await readdir("/etc/ssh/sshd_config.d").catch(() => []);
    const r = await cli(["--config", configFile, "--dry-run"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`[dry-run] create user ${users.name("signer")}: useradd --system`);
    expect(r.stdout).toContain(`[dry-run] create /etc/ssh/signstar-user-${users.name("signer")}.authorized_keys\n`);
    expect(r.stdout).toMatch(/\[dry-run\] \d+ change\(s\) planned, nothing was changed\n$/);
    expect(await lookup(users.name("signer"))).toBeUndefined();
    expect(await readdir("/etc/ssh/sshd_config.d").catch(() => [])).toEqual(before);
  });

  it("works live on a host whose /run is empty (image build, container without systemd)", async () => {
    // A private host (tests/support/private-host.ts) has a fresh /run, as in mkosi's postinst chroot or a container:
    // sshd never ran, so its privilege-separation directory /run/sshd does not exist. The drop-ins must still be
    // validated, and nothing may be created in /run for it.
    const host = await startPrivateHost();
    try {
      const cb = (args: readonly string[] = []): Promise<RunResult> =>
        host.run([process.execPath, BIN, "--config", configFile, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
      // Issue 12.5: ForceCommands that do not exist are refused on a live run (one line, exit 4, nothing changed).
      const missing = await cb(["--bin-dir", "/nonexistent/bin"]);
      expect(missing.stdout).toBe("");
      expect(missing.stderr).toBe(
        "signstar-configure-build: ForceCommand /nonexistent/bin/signstar-download-wireguard (and 1 more) is not an executable; install Signstar or pass the --bin-dir it is installed in\n",
      );
      expect(missing.code).toBe(ExitCode.Config);
      expect((await host.run(["getent", "passwd", users.name("signer")])).code).toBe(2);
      // Installed as the package installs it: the executables under their names in /usr/bin.
      for (const [name, file] of await packageExecutables()) await host.run(["ln", "-sf", file, join("/usr/bin", name)]);
      const r = await cb();
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const signer = users.name("signer");
      expect(r.stdout).toContain(`create /etc/ssh/sshd_config.d/10-signstar-user-${signer}.conf\n`);
      expect((await host.run(["getent", "passwd", signer])).code).toBe(0);
      expect((await host.run(["test", "-e", "/run/sshd"])).code).toBe(1);
      const again = await cb();
      expect(again.stdout.split("\n")[0]).toBe("nothing to do");
      expect(again.code).toBe(0);
    } finally {
      await host.stop();
    }
    expect(await lookup(users.name("signer"))).toBeUndefined(); // the user existed only on the private host
  });

  it("an invalid configuration: exit 4, one line, nothing rendered", async () => {
    const bad = join(dir, "bad.toml");
    await writeFile(bad, "[system]\niteration = -1\n");
    const out = join(dir, "render-bad");
    const r = await cli(["--config", bad, "--root", out]);
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    await expect(access(out)).rejects.toThrow(/ENOENT/);
  });
});
