/**
 * One host layout: every path is named in lib/layout/host-layout.ts, and the directories each role's tools read
 * or write (found with the tools' own path functions) are exactly what signstar-configure-build creates for that
 * role: its tmpfiles.d entries (at boot) and its ensure-home action (when it runs), with the owner and mode the
 * tools check.
 */
import { lstat, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config/load.js";
import { backendUsersOf, roleOf, userMappings } from "../../lib/config/mappings.js";
import type { Config, UserMapping } from "../../lib/config/model.js";
import { applyAction } from "../../lib/host/apply.js";
import { computeHostPlan } from "../../lib/host/plan.js";
import { hostLayout, rootFromEnv, underRoot, type HostLayout } from "../../lib/layout/host-layout.js";
import { userCountersDir } from "../../lib/metrics/signature-counters.js";
import { requireUser } from "../../lib/os/accounts.js";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";
import { uploadsDirOf } from "../../lib/spool/uploads.js";
import { REPO_ROOT } from "../support/repo.js";

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function fullConfig(): Promise<Config> {
  return (await loadConfig({ path: join(REPO_ROOT, "config", "example-full.toml") })).config;
}

interface ToolDir {
  readonly path: string;
  /** "user": the mapping's own Unix user. */
  readonly owner: "root" | "user";
  readonly mode: number;
}

/**
 * What the tools of a mapping's role read or write, from the functions the tools call (not from the plan):
 * the secret files of its backend users, the signing counters, the upload spool, the share download spool.
 */
function toolDirs(layout: HostLayout, m: UserMapping): ToolDir[] {
  const user = m.mapping.systemUser;
  const out: ToolDir[] = [];
  for (const backendUser of backendUsersOf(m)) {
    const dir = dirname(secretFilePath({ root: layout.root, systemUser: user, backendUser, handling: "plaintext" }));
    if (!out.some((d) => d.path === dir)) out.push({ path: dir, owner: "root", mode: 0o711 });
  }
  const role = roleOf(m);
  if (role === "signing") out.push({ path: userCountersDir(layout.signatureCountersDir, user), owner: "user", mode: 0o755 });
  if (role === "signing") out.push({ path: layout.signerDir(user), owner: "user", mode: 0o700 });
  if (role === "backup_upload" || role === "update_upload") out.push({ path: uploadsDirOf(user, layout.root), owner: "user", mode: 0o700 });
  if (role === "share_holder") out.push({ path: layout.userState(user, "shares"), owner: "user", mode: 0o700 });
  return out;
}

/** `d PATH MODE USER GROUP -` lines of every tmpfiles.d file of the plan. */
function tmpfilesDirs(files: readonly { kind: string; content: string }[]): Map<string, { mode: number; owner: string }> {
  const dirs = new Map<string, { mode: number; owner: string }>();
  for (const f of files.filter((x) => x.kind === "tmpfiles")) {
    for (const line of f.content.split("\n")) {
      const m = /^d (\S+) (\d{4}) (\S+) (\S+) -$/.exec(line);
      if (m) dirs.set(m[1]!, { mode: Number.parseInt(m[2]!, 8), owner: m[3]! });
    }
  }
  return dirs;
}

describe("hostLayout", () => {
  it("names the live paths, and the same paths below a root", () => {
    const live = hostLayout();
    const below = hostLayout("/tmp/img/");
    expect(live.root).toBe("");
    expect(hostLayout("/").root).toBe("");
    expect(below.root).toBe("/tmp/img");
    expect(live.home("alice")).toBe("/var/lib/signstar/home/alice");
    expect(live.userState("alice", "secrets")).toBe("/var/lib/signstar/home/alice/.local/state/signstar/secrets");
    expect(live.userStateChain("alice")).toEqual([
      "/var/lib/signstar/home/alice",
      "/var/lib/signstar/home/alice/.local",
      "/var/lib/signstar/home/alice/.local/state",
      "/var/lib/signstar/home/alice/.local/state/signstar",
    ]);
    expect(live.signatureCounters("alice")).toBe("/var/lib/signstar/metrics/signatures/alice");
    expect(live.shareUploadFile("alice")).toBe("/run/signstar/share-uploads/alice/share");
    expect(live.userSshdDropIn("alice")).toBe("/etc/ssh/sshd_config.d/10-signstar-user-alice.conf");
    expect(live.userAuthorizedKeys("alice")).toBe("/etc/ssh/signstar-user-alice.authorized_keys");
    expect(live.userTmpfiles("alice")).toBe("/usr/lib/tmpfiles.d/signstar-user-alice.conf");
    expect(below.userState("alice", "uploads")).toBe(`/tmp/img${live.userState("alice", "uploads")}`);
    expect(underRoot("/tmp/img", "/etc/x")).toBe("/tmp/img/etc/x");
    expect(underRoot(undefined, "/etc/x")).toBe("/etc/x");
    expect(rootFromEnv({ SIGNSTAR_ROOT: "/srv/r" })).toBe("/srv/r");
    expect(rootFromEnv({ SIGNSTAR_ROOT: "relative" })).toBeUndefined();
  });

  it("names the paths of the signing log, the log writer and the resident signers, distinct from every other", () => {
    const live = hostLayout();
    expect(live.signingLogDir).toBe("/var/lib/signstar/log");
    expect(live.logWriterSocket).toBe("/run/signstar/log/writer.sock");
    expect(live.signerSocket("alice")).toBe("/run/signstar/signer/alice/socket");
    expect(live.p11KitSocket).toBe("/run/signstar/p11-kit/pkcs11");
    const below = hostLayout("/tmp/img");
    expect([below.signingLogDir, below.logWriterSocket, below.signerSocket("alice")]).toEqual([
      "/tmp/img/var/lib/signstar/log",
      "/tmp/img/run/signstar/log/writer.sock",
      "/tmp/img/run/signstar/signer/alice/socket",
    ]);
    const named = [
      live.stateDir, live.homeBase, live.metricsDir, live.signatureCountersDir, live.shareStoreDir, live.shareRecord,
      live.publicShareSet, live.shareUploadsDir, live.configureState, live.backupsDir, live.credsDir, live.wireguardDir,
      live.signingLogDir, live.logWriterSocket, live.signerSocket("alice"), live.p11KitSocket, live.shareUploadDir("alice"),
    ];
    expect(new Set(named).size).toBe(named.length);
  });
});

describe("the directories the tools read are the ones configure-build creates", () => {
  for (const root of ["", "/tmp/signstar-image"]) {
    it(`tmpfiles.d entries, per role (${root === "" ? "live system" : "below a root"})`, async () => {
      const config = await fullConfig();
      // tmpfiles.d runs on the target system: its entries name the target's paths, whatever the staging root.
      const layout = hostLayout();
      const plan = computeHostPlan(config, { root });
      const dirs = tmpfilesDirs(plan.files);
      if (root !== "") for (const f of plan.files) expect(f.content).not.toContain(root);
      const roles = new Set<string>();
      for (const m of userMappings(config)) {
        const user = m.mapping.systemUser;
        for (const d of toolDirs(layout, m)) {
          roles.add(roleOf(m));
          expect(dirs.get(d.path), `${roleOf(m)} user ${user}: ${d.path}`).toEqual({ mode: d.mode, owner: d.owner === "root" ? "root" : user });
        }
        // Nothing else below the home: a directory the tools never use is not created either.
        const own = [...dirs.keys()].filter((p) => p.startsWith(`${layout.userState(user)}/`));
        expect(own.sort()).toEqual(toolDirs(layout, m).map((d) => d.path).filter((p) => p.startsWith(`${layout.userState(user)}/`)).sort());
      }
      // Every role with a directory was seen (the example configuration has all of them).
      expect([...roles].sort()).toEqual(["backup", "backup_upload", "hermetic_metrics", "key_certificates", "metrics", "share_holder", "signing", "update_upload"]);
      // Every created directory's parent is created too (or is the root prefix's own /run, /var/lib).
      for (const path of dirs.keys()) {
        const parent = dirname(path);
        if (parent === layout.under("/var/lib") || parent === layout.under("/run")) continue;
        expect(dirs.has(parent), `parent of ${path}`).toBe(true);
      }
    });
  }

  it("the ensure-home action makes the same directories with the owners and modes the tools check", async () => {
    const root = await mkdtemp(join(tmpdir(), "signstar-layout-"));
    roots.push(root);
    const layout = hostLayout(root);
    const nobody = await requireUser("nobody");
    // One mapping per kind of directory, run for an existing account (nobody) below a temporary root.
    const config = await fullConfig();
    const byRole = new Map(userMappings(config).map((m) => [roleOf(m), m] as const));
    for (const role of ["signing", "share_holder", "backup_upload"] as const) {
      const m = byRole.get(role)!;
      const mapping = { ...m, mapping: { ...m.mapping, systemUser: nobody.name } } as UserMapping;
      const plan = computeHostPlan(config, { root });
      const planned = plan.users.find((u) => u.name === m.mapping.systemUser)!;
      await applyAction({ kind: "ensure-home", user: nobody.name, root, accountsRoot: "", path: layout.home(nobody.name), change: "create", stateDirs: planned.stateDirs });
      for (const d of toolDirs(layout, mapping)) {
        const st = await lstat(d.path);
        expect(st.isDirectory()).toBe(true);
        expect(st.mode & 0o7777, d.path).toBe(d.mode);
        expect(st.uid, d.path).toBe(d.owner === "root" ? 0 : nobody.uid);
      }
    }
  });
});
