/**
 * Issue 12.10: after a reboot /run is empty, and a share holder must be able to upload at once (configure needs
 * the shares to run at all). signstar-configure-build's tmpfiles.d entries make the upload directories; on a
 * production host (private host, Debian's paths): configure-build → configure (shares staged) → holders download
 * and confirm → "reboot" (/run/signstar emptied) → the upload names the fix → systemd-tmpfiles --create with the
 * rendered entries → the upload works.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { confirmationCode } from "../../lib/secrets/share-claim.js";
import { KEY_A, KEY_B, KEY_C, KEY_D } from "../host/fixtures.js";
import { startProductionHost, type ProductionHost } from "../support/production-host.js";

const tag = randomBytes(2).toString("hex");
const HOLDERS = [1, 2, 3].map((i) => `sst${tag}-holder${i}`);
const SIGNER = `sst${tag}-signer`;
const KEYS = [KEY_A, KEY_B, KEY_C];

let host: ProductionHost;
const shares: string[] = [];

beforeAll(async () => {
  host = await startProductionHost();
  await host.run(["sh", "-c", "rm -rf /var/lib/softhsm/tokens/*"]);
  await host.writeConfig(
    [
      "[system]",
      "iteration = 1",
      "admin_secret_handling = { shamirs-secret-sharing = { number_of_shares = 3, threshold = 2 } }",
      'non_admin_secret_handling = "plaintext"',
      ...HOLDERS.flatMap((u, i) => ["[[system.mappings]]", `share_holder = { system_user = "${u}", ssh_authorized_key = "${KEYS[i]!}" }`]),
      "[pkcs11]",
      'module = "/usr/lib/softhsm/libsofthsm2.so"',
      "[[pkcs11.mappings]]",
      `admin = { token = { label = "boot${tag}" } }`,
      "[[pkcs11.mappings]]",
      "[pkcs11.mappings.signing]",
      `system_user = "${SIGNER}"`,
      `ssh_authorized_key = "${KEY_D}"`,
      `token = { label = "boot${tag}" }`,
      'key = { label = "k1" }',
      'key_setup = { key_type = "EcP256", key_mechanisms = ["EcdsaSignature"], signature_type = "EcdsaP256", key_context = { openpgp = { user_ids = ["S <s@signstar.test>"], version = "4" } } }',
      "",
    ].join("\n"),
  );
  const cb = await host.tool("signstar-configure-build");
  expect(cb.stderr).toBe("");
  expect(cb.code).toBe(0);
  const c = await host.tool("signstar-configure");
  expect(c.stderr).toBe("");
  expect(c.code).toBe(0);
}, 180_000);

afterAll(async () => {
  await host?.stop();
});

describe("share uploads right after a boot (empty /run)", () => {
  it("configure-build renders the upload directories as tmpfiles.d entries", async () => {
    const base = await host.run(["cat", "/usr/lib/tmpfiles.d/signstar.conf"]);
    expect(base.stdout).toContain("d /run/signstar/share-uploads 0755 root root -\n");
    for (const u of HOLDERS) {
      const r = await host.run(["cat", `/usr/lib/tmpfiles.d/signstar-user-${u}.conf`]);
      expect(r.stdout).toContain(`d /run/signstar/share-uploads/${u} 0755 ${u} ${u} -\n`);
    }
  });

  it("the holders download and confirm their shares", async () => {
    for (const u of HOLDERS) {
      const d = await host.tool("signstar-download-secret-share", [], { user: u });
      expect(d.code).toBe(0);
      const line = d.stdout.trim();
      shares.push(line);
      const ok = await host.tool("signstar-download-secret-share", [], { user: u, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", SSH_ORIGINAL_COMMAND: `confirm ${confirmationCode(line)}` } });
      expect(ok.code).toBe(0);
    }
  });

  it("after a reboot the upload names the fix; after systemd-tmpfiles --create it works", async () => {
    await host.run(["rm", "-rf", "/run/signstar"]);
    const before = await host.tool("signstar-upload-secret-share", [], { user: HOLDERS[0]!, input: `${shares[0]!}\n` });
    expect(before.stdout).toBe("");
    expect(before.stderr).toMatch(/does not exist; ask the operator to run systemd-tmpfiles --create/);
    expect(before.code).not.toBe(0);

    const t = await host.run(["sh", "-c", "systemd-tmpfiles --create /usr/lib/tmpfiles.d/signstar*.conf"]);
    expect(t.stderr).toBe("");
    expect(t.code).toBe(0);
    for (const i of [0, 1]) {
      const r = await host.tool("signstar-upload-secret-share", [], { user: HOLDERS[i]!, input: `${shares[i]!}\n` });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    // With two of three uploaded, configure has its admin secret again.
    const c = await host.tool("signstar-configure", ["--dry-run"]);
    expect(c.stdout).not.toMatch(/only \d of the \d required shares/);
    expect(c.code).toBe(0);
  });
});
