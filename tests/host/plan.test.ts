import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { computeHostPlan, type HostPlan } from "../../lib/host/plan.js";
import { HARDENING_CONF } from "../../lib/host/hardening.js";
import { renderAuthorizedKeys, splitKeyOptions } from "../../lib/host/render.js";
import { authorizedKey, logOrigin } from "../../lib/config/primitives.js";
import { HostError } from "../../lib/host/errors.js";
import { ALL_ROLES, KEY_D, KEY_E, hostConfig } from "./fixtures.js";

function file(plan: HostPlan, path: string): string {
  const f = plan.files.find((x) => x.path === path);
  if (!f) throw new Error(`no planned file ${path}; have ${plan.files.map((x) => x.path).join(", ")}`);
  return f.content;
}

const HEADER = "# Managed by signstar-configure-build. Changes are overwritten.\n";

describe("computeHostPlan", () => {
  const plan = computeHostPlan(hostConfig(ALL_ROLES));

  it("plans one user per mapping with a Unix user, with /bin/sh and a home below /var/lib/signstar/home", () => {
    expect(plan.users.map((u) => [u.name, u.role, u.home, u.shell, u.forceCommand])).toEqual([
      ["share1", "share_holder", "/var/lib/signstar/home/share1", "/bin/sh", "/usr/bin/signstar-download-secret-share"],
      ["wg1", "wire_guard_download", "/var/lib/signstar/home/wg1", "/bin/sh", "/usr/bin/signstar-download-wireguard"],
      ["backup1", "backup", "/var/lib/signstar/home/backup1", "/bin/sh", "/usr/bin/signstar-download-backup"],
      ["metrics1", "metrics", "/var/lib/signstar/home/metrics1", "/bin/sh", "/usr/bin/signstar-download-metrics"],
      ["localmetrics1", "hermetic_metrics", "/var/lib/signstar/home/localmetrics1", "/bin/sh", undefined],
      ["signer1", "signing", "/var/lib/signstar/home/signer1", "/bin/sh", "/usr/bin/signstar-download-signature"],
      ["pksigner1", "signing", "/var/lib/signstar/home/pksigner1", "/bin/sh", "/usr/bin/signstar-download-signature"],
    ]);
  });

  it("renders the tmpfiles.d entries per role: root-owned home chain, then the role's leaves (golden)", () => {
    const chain = (u: string) =>
      `d /var/lib/signstar/home/${u} 0755 root root -\n` +
      `d /var/lib/signstar/home/${u}/.local 0755 root root -\n` +
      `d /var/lib/signstar/home/${u}/.local/state 0755 root root -\n` +
      `d /var/lib/signstar/home/${u}/.local/state/signstar 0755 root root -\n`;
    expect(file(plan, "/usr/lib/tmpfiles.d/signstar-user-signer1.conf")).toBe(
      `${HEADER}${chain("signer1")}` +
        "d /var/lib/signstar/home/signer1/.local/state/signstar/secrets 0711 root root -\n" +
        "d /var/lib/signstar/metrics/signatures/signer1 0755 signer1 signer1 -\n" +
        "d /run/signstar/signer/signer1 0700 signer1 signer1 -\n",
    );
    expect(file(plan, "/usr/lib/tmpfiles.d/signstar-user-share1.conf")).toBe(
      `${HEADER}${chain("share1")}d /var/lib/signstar/home/share1/.local/state/signstar/shares 0700 share1 share1 -\n` +
        "d /run/signstar/share-uploads/share1 0755 share1 share1 -\n",
    );
    expect(file(plan, "/usr/lib/tmpfiles.d/signstar-user-backup1.conf")).toBe(
      `${HEADER}${chain("backup1")}d /var/lib/signstar/home/backup1/.local/state/signstar/secrets 0711 root root -\n`,
    );
    expect(file(plan, "/usr/lib/tmpfiles.d/signstar-user-wg1.conf")).toBe(`${HEADER}${chain("wg1")}`);
  });

  it("renders the authorized_keys file with restrict first (golden)", () => {
    expect(file(plan, "/etc/ssh/signstar-user-signer1.authorized_keys")).toBe(`${HEADER}restrict ${KEY_E}\n`);
    const [type, blob, comment] = KEY_D.split(" ");
    expect(file(plan, "/etc/ssh/signstar-user-metrics1.authorized_keys")).toBe(
      `${HEADER}restrict,from="10.0.0.0/8",no-pty ${type} ${blob} ${comment}\n`,
    );
  });

  it("renders the sshd drop-in (golden)", () => {
    expect(file(plan, "/etc/ssh/sshd_config.d/10-signstar-user-signer1.conf")).toBe(
      HEADER +
        '# Signstar user "signer1" (role signing).\n' +
        "Match User signer1\n" +
        "    AuthorizedKeysFile /etc/ssh/signstar-user-signer1.authorized_keys\n" +
        "    ForceCommand /usr/bin/signstar-download-signature\n" +
        "    SetEnv LANG=C.UTF-8 LC_ALL=C.UTF-8 SIGNSTAR_SIGNER_CONCURRENT=4 SIGNSTAR_SIGNER_QUEUED=16\n" +
        "    PermitTTY no\n" +
        "    DisableForwarding yes\n" +
        "    AllowTcpForwarding no\n" +
        "    AllowStreamLocalForwarding no\n" +
        "    X11Forwarding no\n" +
        "    AllowAgentForwarding no\n" +
        "    PermitTunnel no\n" +
        "    PermitUserRC no\n" +
        "    GatewayPorts no\n" +
        "    PermitListen none\n" +
        "    PermitOpen none\n" +
        "    MaxSessions 16\n",
    );
    // Other roles have sshd's default MaxSessions, and no signing limits.
    expect(file(plan, "/etc/ssh/sshd_config.d/10-signstar-user-backup1.conf")).not.toContain("MaxSessions");
    expect(file(plan, "/etc/ssh/sshd_config.d/10-signstar-user-backup1.conf")).toContain("    SetEnv LANG=C.UTF-8 LC_ALL=C.UTF-8\n");
  });

  it("renders the signing limits into the signers' unit drop-in and each signing user's one SetEnv line", () => {
    // Defaults (nothing configured), written out.
    expect(file(plan, "/etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf")).toBe(
      HEADER +
        "# Per-user signing limits from the configuration ([system] signing_concurrency, signing_queue).\n" +
        "[Service]\n" +
        "Environment=SIGNSTAR_SIGNER_CONCURRENT=4\n" +
        "Environment=SIGNSTAR_SIGNER_QUEUED=16\n",
    );
    const base = hostConfig(ALL_ROLES);
    const p = computeHostPlan({ ...base, system: { ...base.system, signingConcurrency: 2, signingQueue: 0 } });
    const unit = file(p, "/etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf");
    expect(unit).toContain("[Service]\nEnvironment=SIGNSTAR_SIGNER_CONCURRENT=2\nEnvironment=SIGNSTAR_SIGNER_QUEUED=0\n");
    for (const signer of ["signer1", "pksigner1"]) {
      const dropIn = file(p, `/etc/ssh/sshd_config.d/10-signstar-user-${signer}.conf`);
      // sshd keeps only the first SetEnv of a Match block: the limits share the locale pin's line.
      expect(dropIn.match(/SetEnv/g)).toHaveLength(1);
      expect(dropIn).toContain("    SetEnv LANG=C.UTF-8 LC_ALL=C.UTF-8 SIGNSTAR_SIGNER_CONCURRENT=2 SIGNSTAR_SIGNER_QUEUED=0\n");
    }
  });

  it("gives hermetic metrics users only a tmpfiles.d entry, no SSH access", () => {
    const mine = plan.files.filter((f) => f.user === "localmetrics1").map((f) => f.kind);
    expect(mine).toEqual(["tmpfiles"]);
    expect(plan.files.some((f) => f.path.includes("localmetrics1") && f.path.startsWith("/etc/ssh"))).toBe(false);
  });

  it("plans the hardening drop-in, identical to sshd/00-signstar-hardening.conf, and every file 0644", async () => {
    expect(file(plan, "/etc/ssh/sshd_config.d/00-signstar-hardening.conf")).toBe(HARDENING_CONF);
    expect(await readFile(new URL("../../sshd/00-signstar-hardening.conf", import.meta.url), "utf8")).toBe(HARDENING_CONF);
    const files = plan.files.filter((f) => f.kind !== "unit_link");
    expect(new Set(files.map((f) => f.mode))).toEqual(new Set([0o644]));
    // hardening + state tmpfiles + the signers' unit drop-in, a tmpfiles entry per user, keys + drop-in per SSH user
    expect(files).toHaveLength(3 + 7 + 6 * 2);
    // And one enabled resident signer socket per signing user, a link to the package's template unit.
    expect(plan.files.filter((f) => f.kind === "unit_link").map((f) => [f.path, f.linkTarget])).toEqual([
      ["/etc/systemd/system/sockets.target.wants/signstar-signer@signer1.socket", "/usr/lib/systemd/system/signstar-signer@.socket"],
      ["/etc/systemd/system/sockets.target.wants/signstar-signer@pksigner1.socket", "/usr/lib/systemd/system/signstar-signer@.socket"],
    ]);
  });

  it("writes below --root, but every path inside the files is the target system's (issue 12.4); ForceCommands below --bin-dir", () => {
    const p = computeHostPlan(hostConfig({ signer: { name: "signer1", key: KEY_E } }), { root: "/tmp/img/", binDir: "/opt/signstar/bin" });
    expect(p.files.map((f) => f.path).sort()).toEqual([
      "/tmp/img/etc/ssh/signstar-user-signer1.authorized_keys",
      "/tmp/img/etc/ssh/sshd_config.d/00-signstar-hardening.conf",
      "/tmp/img/etc/ssh/sshd_config.d/10-signstar-user-signer1.conf",
      "/tmp/img/etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf",
      "/tmp/img/etc/systemd/system/sockets.target.wants/signstar-signer@signer1.socket",
      "/tmp/img/usr/lib/tmpfiles.d/signstar-user-signer1.conf",
      "/tmp/img/usr/lib/tmpfiles.d/signstar.conf",
    ]);
    for (const f of p.files) expect(f.content + (f.linkTarget ?? ""), f.path).not.toContain("/tmp/img");
    expect(file(p, "/tmp/img/usr/lib/tmpfiles.d/signstar.conf")).toBe(
      "d /var/lib/signstar 0755 root root -\n" +
        "d /var/lib/signstar/home 0755 root root -\n" +
        "d /var/lib/signstar/metrics 0755 root root -\n" +
        "d /var/lib/signstar/metrics/signatures 0755 root root -\n" +
        "d /run/signstar 0755 root root -\n" +
        "d /run/signstar/signer 0755 root root -\n" +
        "d /run/signstar/share-uploads 0755 root root -\n",
    );
    const dropIn = file(p, "/tmp/img/etc/ssh/sshd_config.d/10-signstar-user-signer1.conf");
    expect(dropIn).toContain("    AuthorizedKeysFile /etc/ssh/signstar-user-signer1.authorized_keys\n");
    expect(dropIn).toContain("    ForceCommand /opt/signstar/bin/signstar-download-signature\n");
    expect(file(p, "/tmp/img/usr/lib/tmpfiles.d/signstar-user-signer1.conf")).toContain("d /var/lib/signstar/home/signer1 0755 root root -\nd /var/lib/signstar/home/signer1/.local 0755 root root -\n");
    expect(p.files.find((f) => f.kind === "unit_link")?.linkTarget).toBe("/usr/lib/systemd/system/signstar-signer@.socket");
    // passwd gets the target's home; configure-build makes it below the root.
    expect([p.users[0]?.home, p.users[0]?.stagedHome]).toEqual(["/var/lib/signstar/home/signer1", "/tmp/img/var/lib/signstar/home/signer1"]);
  });

  it("in place (tests that run sshd on the rendered tree where it is), the files name the paths below the root", () => {
    const p = computeHostPlan(hostConfig({ signer: { name: "signer1", key: KEY_E } }), { root: "/tmp/img", inPlace: true });
    expect(file(p, "/tmp/img/etc/ssh/sshd_config.d/10-signstar-user-signer1.conf")).toContain("    AuthorizedKeysFile /tmp/img/etc/ssh/signstar-user-signer1.authorized_keys\n");
    expect(p.users[0]?.home).toBe("/tmp/img/var/lib/signstar/home/signer1");
    // On the live system there is nothing to be in place of.
    expect(computeHostPlan(hostConfig({ signer: { name: "signer1", key: KEY_E } }), { inPlace: true }).users[0]?.home).toBe("/var/lib/signstar/home/signer1");
  });

  it("refuses roots and bin dirs that cannot be written unquoted into sshd/tmpfiles syntax", () => {
    const config = hostConfig({ signer: { name: "signer1", key: KEY_E } });
    expect(() => computeHostPlan(config, { root: "/tmp/a b" })).toThrow(HostError);
    expect(() => computeHostPlan(config, { root: "relative/dir" })).toThrow(/must be an absolute path/);
    expect(() => computeHostPlan(config, { binDir: "/usr/%h/bin" })).toThrow(/bin directory/);
    expect(() => computeHostPlan(config, { binDir: "/usr/../tmp" })).toThrow(/without "\.\."/);
  });

  it("never duplicates restrict and keeps quoted commas inside one option", () => {
    expect(splitKeyOptions('restrict,command="a,b",from="x"')).toEqual(["restrict", 'command="a,b"', 'from="x"']);
    const line = renderAuthorizedKeys(authorizedKey(`restrict,from="10.0.0.1" ${KEY_E}`));
    expect(line.split("\n")[1]).toBe(`restrict,from="10.0.0.1" ${KEY_E}`);
  });
});

describe("computeHostPlan with the signing log", () => {
  const base = hostConfig(ALL_ROLES);
  const withLog = { ...base, system: { ...base.system, signingLog: { origin: logOrigin("signer.test/log"), key: { kind: "file" as const } } } };

  it("plans nothing for the log without signing_log", () => {
    const plan = computeHostPlan(base);
    expect(plan.logWriter).toBeUndefined();
    expect(plan.files.some((f) => f.path.includes("signstar-log"))).toBe(false);
  });

  it("plans the writer's user, its directories (tmpfiles.d, golden) and its socket unit enabled", () => {
    const plan = computeHostPlan(withLog);
    expect(plan.logWriter).toEqual({
      user: "signstar-log",
      home: "/var/lib/signstar/log",
      shell: "/usr/sbin/nologin",
      dirs: [
        { path: "/var/lib/signstar/log", stagedPath: "/var/lib/signstar/log", mode: 0o755 },
        { path: "/run/signstar/log", stagedPath: "/run/signstar/log", mode: 0o755 },
      ],
      groups: [],
    });
    expect(file(plan, "/usr/lib/tmpfiles.d/signstar-log.conf")).toBe(
      `${HEADER}# The signing log (docs/tlog.md): written only by its writer's user.\n` +
        "d /var/lib/signstar/log 0755 signstar-log signstar-log -\n" +
        "d /run/signstar/log 0755 signstar-log signstar-log -\n",
    );
    const link = plan.files.find((f) => f.path === "/etc/systemd/system/sockets.target.wants/signstar-log-writer.socket");
    expect(link?.linkTarget).toBe("/usr/lib/systemd/system/signstar-log-writer.socket");
    // Below a root, the directories are made there; passwd, tmpfiles.d and the link name the target's paths.
    const below = computeHostPlan(withLog, { root: "/tmp/image" });
    expect(below.logWriter?.dirs.map((d) => d.stagedPath)).toEqual(["/tmp/image/var/lib/signstar/log", "/tmp/image/run/signstar/log"]);
    expect(below.logWriter?.dirs.map((d) => d.path)).toEqual(["/var/lib/signstar/log", "/run/signstar/log"]);
    expect(below.logWriter?.home).toBe("/var/lib/signstar/log");
    expect(file(below, "/tmp/image/usr/lib/tmpfiles.d/signstar-log.conf")).toBe(file(plan, "/usr/lib/tmpfiles.d/signstar-log.conf"));
    expect(below.files.find((f) => f.kind === "unit_link" && f.path.endsWith("signstar-log-writer.socket"))?.linkTarget).toBe("/usr/lib/systemd/system/signstar-log-writer.socket");
  });
});
