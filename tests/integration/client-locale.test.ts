/**
 * Issue 17.2: Debian's sshd_config accepts `LANG LC_*` from the client, and Node.js 20 crashes (SIGSEGV, before
 * any audit entry) on a locale such as LANG=/nonexistent. configure-build pins the locale in every Signstar
 * user's Match block; here every SSH role is reached through Debian's own sshd (production host) with hostile
 * LANG/LC_* values: no crash, and the tool's audit entry is in the journal. An earlier Match block with its own
 * SetEnv (which wins over the drop-ins') makes configure-build warn.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FORCE_COMMANDS } from "../../lib/host/force-commands.js";
import { startProductionHost, type ProductionHost, type ProductionSshd } from "../support/production-host.js";
import { generateSshKey, runSsh, type SshKey } from "../support/sshd.js";

const tag = randomBytes(2).toString("hex");
const ROLES = ["share_holder", "wire_guard_download", "backup", "metrics", "backup_upload", "update_upload", "signing", "key_certificates"] as const;
type SshRole = (typeof ROLES)[number];
const user = (role: SshRole | "holder2" | "holder3"): string => `sst${tag}-${role.replace(/_/g, "").slice(0, 10)}`;
const HOSTILE = "LANG=/nonexistent LC_ALL=/nonexistent LC_CTYPE=../../x LC_MESSAGES=%n%n%n";

let host: ProductionHost;
let sshd: ProductionSshd;
let work: string;
const keys = new Map<string, SshKey>();

function config(): string {
  const k = (u: string): string => keys.get(u)!.publicKey;
  const access = (role: SshRole): string => `system_user = "${user(role)}", ssh_authorized_key = "${k(user(role))}"`;
  return [
    "[system]",
    "iteration = 1",
    "admin_secret_handling = { shamirs-secret-sharing = { number_of_shares = 3, threshold = 2 } }",
    'non_admin_secret_handling = "plaintext"',
    ...[user("share_holder"), user("holder2"), user("holder3")].flatMap((u) => ["[[system.mappings]]", `share_holder = { system_user = "${u}", ssh_authorized_key = "${k(u)}" }`]),
    "[[system.mappings]]",
    `wire_guard_download = { ${access("wire_guard_download")} }`,
    "[nethsm]",
    'connections = [{ url = "https://127.0.0.1:9/api/v1", tls_security = "Unsafe" }]',
    "[[nethsm.mappings]]",
    'admin = "admin"',
    "[[nethsm.mappings]]",
    `backup = { backend_user = "backup1", ${access("backup")} }`,
    "[[nethsm.mappings]]",
    `metrics = { backend_users = { metrics_user = "metrics1", operator_users = ["operator3"] }, ${access("metrics")} }`,
    "[[nethsm.mappings]]",
    `key_certificates = { backend_users = ["operator2"], ${access("key_certificates")} }`,
    "[[nethsm.mappings]]",
    `backup_upload = { ${access("backup_upload")} }`,
    "[[nethsm.mappings]]",
    `update_upload = { ${access("update_upload")} }`,
    "[[nethsm.mappings]]",
    "[nethsm.mappings.signing]",
    'backend_user = "operator1"',
    'signing_key_id = "signing1"',
    'tag = "signing1"',
    access("signing").replace(", ", "\n"),
    'key_setup = { key_type = "Curve25519", key_mechanisms = ["EdDsaSignature"], signature_type = "EdDsa", key_context = { openpgp = { user_ids = ["S <s@signstar.test>"], version = "4" } } }',
    "",
  ].join("\n");
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-locale-"));
  for (const u of [...ROLES.map(user), user("holder2"), user("holder3")]) keys.set(u, await generateSshKey(work, u));
  host = await startProductionHost();
  await host.writeConfig(config());
  const cb = await host.tool("signstar-configure-build");
  expect(cb.stderr).toBe("");
  expect(cb.code).toBe(0);
  // Debian's sshd_config accepts LANG LC_*; the pin makes it harmless, so configure-build does not warn.
  expect(cb.stdout).not.toMatch(/warning: sshd -T/);
  sshd = await host.startSshd();
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("hostile client locales over Debian's sshd", () => {
  it("the client variables are accepted by Debian's sshd_config (what makes the attack possible)", async () => {
    expect(await readFile(host.path("/etc/ssh/sshd_config"), "utf8")).toMatch(/^AcceptEnv LANG LC_\*/m);
  });

  it.each(ROLES)("%s: no crash, and the tool's audit entry is in the journal", async (role) => {
    const u = user(role);
    const r = await runSsh({ sshd, user: u, identity: keys.get(u)!.privateKeyFile, sshArgs: ["-o", `SetEnv=${HOSTILE}`], input: "", timeoutMs: 60_000 });
    expect(r.stderr).not.toMatch(/Segmentation|core dumped/);
    expect(r.code).not.toBe(139);
    expect(r.code).not.toBe(255); // sshd let the user in
    // The tool's own entry (tagged with its name), not sshd's log of the login.
    const entry = await host.journal.waitFor(new RegExp(`${FORCE_COMMANDS[role]!}(\\[\\d+\\])?: .*${u}`), 20_000).catch(async () => (await host.journal.messages()).join("\n"));
    expect(entry).toMatch(new RegExp(`${FORCE_COMMANDS[role]!}(\\[\\d+\\])?: .*${u}`));
  });

  it("an earlier Match block with its own SetEnv wins over the drop-ins': configure-build warns", async () => {
    await writeFile(host.path("/etc/ssh/sshd_config.d/05-site.conf"), "Match User *\n    SetEnv TZ=UTC\n");
    // The check runs after every live run, also one with nothing to change.
    const r = await host.tool("signstar-configure-build");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`note: warning: sshd -T -C user=${user("signing")} accepts client environment variables LANG LC_* that reach its ForceCommand unpinned`);
  });
});
