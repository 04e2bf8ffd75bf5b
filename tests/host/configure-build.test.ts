import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configureBuild } from "../../lib/host/configure-build.js";
import { checkSshdConfig, runSshdCheck, VALIDATION_ID } from "../../lib/host/sshd-check.js";
import { run } from "../../lib/os/run.js";
import { ALL_ROLES, KEY_A, KEY_B, KEY_E, hostConfig } from "./fixtures.js";
import type { Config } from "../../lib/config/model.js";
import { logOrigin } from "../../lib/config/primitives.js";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-cb-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function render(config: Config, dryRun = false): Promise<string[]> {
  const lines: string[] = [];
  await configureBuild({ config, root, dryRun, out: (l) => lines.push(l) });
  return lines;
}

/** Every file below root with mode and content, for before/after comparisons. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const st = await lstat(path);
    const what = entry.isFile() ? await readFile(path, "utf8") : entry.isSymbolicLink() ? `-> ${await readlink(path)}` : "<dir>";
    out[relative(dir, path)] = `${(st.mode & 0o7777).toString(8)} ${what}`;
  }
  return out;
}

const actionLines = (lines: string[]): string[] => lines.filter((l) => !l.startsWith("note:") && !l.startsWith("  "));

describe("configureBuild --root", () => {
  it("renders every file with mode 0644, and a second run has nothing to do", async () => {
    const first = await render(hostConfig(ALL_ROLES));
    expect(actionLines(first)).toEqual([
      `create ${root}/etc/ssh/sshd_config.d/00-signstar-hardening.conf`,
      `create ${root}/usr/lib/tmpfiles.d/signstar.conf`,
      `create ${root}/etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf`,
      ...["share1", "wg1", "backup1", "metrics1", "localmetrics1", "signer1", "pksigner1"].flatMap((u) =>
        u === "localmetrics1"
          ? [`create ${root}/usr/lib/tmpfiles.d/signstar-user-${u}.conf`]
          : [
              `create ${root}/usr/lib/tmpfiles.d/signstar-user-${u}.conf`,
              ...(u.includes("signer") ? [`create ${root}/etc/systemd/system/sockets.target.wants/signstar-signer@${u}.socket`] : []),
              `create ${root}/etc/ssh/signstar-user-${u}.authorized_keys`,
              `create ${root}/etc/ssh/sshd_config.d/10-signstar-user-${u}.conf`,
            ],
      ),
    ]);
    // Accounts are not touched below --root, but the commands for the target system are stated.
    expect(first).toContain(`note: user accounts are not changed below --root (${root}/etc/passwd does not exist); on the target system they need:`);
    expect(first).toContain(
      "note:   useradd --system --user-group --no-create-home --home-dir /var/lib/signstar/home/signer1 --shell /bin/sh --password '*' signer1",
    );
    expect(first.filter((l) => l.startsWith("note:   ")).join("\n")).not.toContain(root);
    const snap = await snapshot(root);
    // The files are for a system that sees the tree at / (issue 12.4): none names the root.
    for (const [path, v] of Object.entries(snap)) expect(v, path).not.toContain(root);
    const files = Object.entries(snap).filter(([, v]) => !v.endsWith("<dir>"));
    expect(files).toHaveLength(24);
    for (const [path, v] of files) expect(v.startsWith(path.includes("sockets.target.wants") ? "777 " : "644 "), path).toBe(true);

    const second = await render(hostConfig(ALL_ROLES));
    expect(actionLines(second)).toEqual(["nothing to do"]);
    expect(await snapshot(root)).toEqual(snap);
  });

  it("--dry-run prints the plan and changes nothing", async () => {
    const lines = await render(hostConfig(ALL_ROLES), true);
    expect(await readdir(root)).toEqual([]);
    expect(lines[0]).toBe(`[dry-run] create ${root}/etc/ssh/sshd_config.d/00-signstar-hardening.conf`);
    expect(actionLines(lines).at(-1)).toBe("[dry-run] 24 change(s) planned, nothing was changed");

    await render(hostConfig(ALL_ROLES));
    const before = await snapshot(root);
    const changed = await render(hostConfig({ ...ALL_ROLES, signer: { name: "signer1", key: KEY_A } }), true);
    expect(actionLines(changed)).toEqual([
      `[dry-run] update ${root}/etc/ssh/signstar-user-signer1.authorized_keys`,
      "[dry-run] 1 change(s) planned, nothing was changed",
    ]);
    expect(await snapshot(root)).toEqual(before);
  });

  it("a changed config changes exactly what changed: new key, new user, removed user, wrong mode, edited file", async () => {
    await render(hostConfig({ signer: { name: "signer1", key: KEY_E }, backup: { name: "backup1", key: KEY_B } }));
    const hardening = join(root, "etc/ssh/sshd_config.d/00-signstar-hardening.conf");
    await chmod(hardening, 0o666);
    const dropIn = join(root, "etc/ssh/sshd_config.d/10-signstar-user-signer1.conf");
    const original = await readFile(dropIn, "utf8");
    await writeFile(dropIn, original.replace("PermitTTY no", "PermitTTY yes"));

    const lines = await render(hostConfig({ signer: { name: "signer1", key: KEY_A }, wireguard: { name: "wg1", key: KEY_B } }));
    expect(actionLines(lines)).toEqual([
      `fix mode 0666 -> 0644 of ${hardening}`,
      `create ${root}/usr/lib/tmpfiles.d/signstar-user-wg1.conf`,
      `create ${root}/etc/ssh/signstar-user-wg1.authorized_keys`,
      `create ${root}/etc/ssh/sshd_config.d/10-signstar-user-wg1.conf`,
      `update ${root}/etc/ssh/signstar-user-signer1.authorized_keys`,
      `update ${dropIn}`,
      `remove ${root}/usr/lib/tmpfiles.d/signstar-user-backup1.conf (user backup1 is no longer in the configuration)`,
      `remove ${root}/etc/ssh/signstar-user-backup1.authorized_keys (user backup1 is no longer in the configuration)`,
      `remove ${root}/etc/ssh/sshd_config.d/10-signstar-user-backup1.conf (user backup1 is no longer in the configuration)`,
    ]);
    expect(lines).toContain(
      "note: Unix user backup1 is kept: it left the configuration, but accounts are never deleted automatically (remove it with: userdel backup1)",
    );
    expect(await readFile(dropIn, "utf8")).toBe(original);
    expect((await lstat(hardening)).mode & 0o7777).toBe(0o644);
    expect(await readFile(join(root, "etc/ssh/signstar-user-signer1.authorized_keys"), "utf8")).toContain(`restrict ${KEY_A}\n`);
    await expect(lstat(join(root, "etc/ssh/signstar-user-backup1.authorized_keys"))).rejects.toThrow(/ENOENT/);
    expect(actionLines(await render(hostConfig({ signer: { name: "signer1", key: KEY_A }, wireguard: { name: "wg1", key: KEY_B } })))).toEqual([
      "nothing to do",
    ]);
  });

  it("signing_log turned off: the writer's socket link, drop-in and tmpfiles entry go; the log, its key and log.vkey stay", async () => {
    const base = hostConfig({ signer: { name: "signer1", key: KEY_E } });
    const withLog: Config = { ...base, system: { ...base.system, signingLog: { origin: logOrigin("cb.test/log"), key: { kind: "file" } } } };
    await render(withLog);
    const link = join(root, "etc/systemd/system/sockets.target.wants/signstar-log-writer.socket");
    const dropIn = join(root, "etc/systemd/system/signstar-log-writer.service.d/10-signstar-log-key.conf");
    const tmpfiles = join(root, "usr/lib/tmpfiles.d/signstar-log.conf");
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    // What configure and the writer made: the log's data, key and verifier key (never configure-build's to remove).
    const kept = { "var/lib/signstar/log/checkpoint": "cb.test/log\n1\n…\n", "var/lib/signstar/log.key": "key", "var/lib/signstar/log.vkey": "cb.test/log+00+AA\n" };
    await mkdir(join(root, "var/lib/signstar/log"), { recursive: true });
    for (const [path, content] of Object.entries(kept)) await writeFile(join(root, path), content);

    const off = await render(base);
    const why = "the signing log is off (no signing_log in [system])";
    expect(actionLines(off)).toEqual([`remove ${link} (${why})`, `remove ${dropIn} (${why})`, `remove ${tmpfiles} (${why})`]);
    expect(off).toContain(
      "note: the signing log is off: its writer's socket is no longer enabled at boot (stop a running one with: systemctl disable --now " +
        "signstar-log-writer.socket signstar-log-writer.service); the log, its key, log.vkey and the user signstar-log are kept: turning signing_log on again continues the same log",
    );
    for (const path of [link, dropIn, tmpfiles]) await expect(lstat(path)).rejects.toThrow(/ENOENT/);
    for (const [path, content] of Object.entries(kept)) expect(await readFile(join(root, path), "utf8")).toBe(content);
    expect(actionLines(await render(base))).toEqual(["nothing to do"]);
    // On again: the same three files come back, the log is untouched.
    expect(actionLines(await render(withLog))).toEqual([`create ${tmpfiles}`, `create ${link}`, `create ${dropIn}`]);
    for (const [path, content] of Object.entries(kept)) expect(await readFile(join(root, path), "utf8")).toBe(content);
  });

  it("leaves files that do not carry our prefix alone", async () => {
    await render(hostConfig({ signer: { name: "signer1", key: KEY_E } }));
    const foreign = join(root, "etc/ssh/sshd_config.d/50-admin.conf");
    await writeFile(foreign, "PermitRootLogin no\n");
    const lines = await render(hostConfig({}));
    expect(actionLines(lines)).toHaveLength(4);
    expect(await readFile(foreign, "utf8")).toBe("PermitRootLogin no\n");
  });

  it("the rendered drop-ins pass sshd -t and apply only to their users", async () => {
    await render(hostConfig(ALL_ROLES));
    await chmod(root, 0o755); // sshd checks run unprivileged (lib/host/sshd-check.ts)
    const include = join(root, "etc/ssh/sshd_config.d/*.conf");
    await checkSshdConfig({ includes: [include] });
    // and with the machine's own sshd_config behind them, as Debian includes sshd_config.d first
    const dir = await mkdtemp(join(tmpdir(), "signstar-cb-sshd-"));
    try {
      await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, "hk")]);
      const cfg = join(dir, "sshd_config");
      await writeFile(cfg, `Include ${include}\nHostKey ${join(dir, "hk")}\nPidFile ${join(dir, "pid")}\nX11Forwarding yes\n`);
      for (const path of [dir, join(dir, "hk"), cfg]) await chown(path, VALIDATION_ID, VALIDATION_ID);
      const t = await runSshdCheck(["-t", "-f", cfg]);
      expect(t.stderr).toBe("");
      expect(t.code).toBe(0);
      const forUser = async (user: string): Promise<string> =>
        (await runSshdCheck(["-T", "-f", cfg, "-C", `user=${user},host=localhost,addr=127.0.0.1`])).stdout.toString();
      const signer = await forUser("signer1");
      expect(signer).toContain("forcecommand /usr/bin/signstar-download-signature\n");
      expect(signer).toContain("authorizedkeysfile /etc/ssh/signstar-user-signer1.authorized_keys\n");
      expect(signer).toContain("permittty no\n");
      expect(signer).toContain("x11forwarding no\n");
      const stranger = await forUser("someoneelse");
      expect(stranger).toContain("forcecommand none\n");
      expect(stranger).toContain("authorizedkeysfile none\n");
      expect(stranger).toContain("passwordauthentication no\n");
      expect(stranger).toContain("permitrootlogin no\n");
      expect(stranger).toContain("disableforwarding yes\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects a drop-in that sshd -t refuses before writing anything", async () => {
    await expect(checkSshdConfig({ contents: [{ name: "bad.conf", text: "Match User x\n    NoSuchKeyword yes\n" }] })).rejects.toThrow(
      /sshd -t rejects the generated configuration/,
    );
  });
});
