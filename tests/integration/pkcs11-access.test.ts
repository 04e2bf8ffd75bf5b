/**
 * Issue 12.1: signing users reach the SoftHSM token after signstar-configure, on Debian's own SoftHSM set-up
 * (/etc/softhsm/softhsm2.conf root:softhsm 0640, /var/lib/softhsm/tokens root:softhsm 2770), through the
 * production flow on a private host: signstar-configure-build → signstar-configure → the signing tool run as the
 * signing user → add a signer, configure-build and configure again → the new key is reachable too.
 * No fixture touches the token: configure creates it, its keys and the users' PINs.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenGroupName } from "../../lib/config/token-access.js";
import { ExitCode } from "../../lib/errors.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { parseSigningResponse } from "../../lib/signing/response.js";
import { gpgVerify } from "../configure/helpers.js";
import { KEY_A, KEY_B, KEY_C } from "../host/fixtures.js";
import { startPrivateHost, type PrivateHost } from "../support/private-host.js";
import { packageExecutables } from "../support/production-host.js";
import { REPO_ROOT } from "../support/repo.js";
import { startSyslog, type SyslogListener } from "../support/syslog.js";

const tag = randomBytes(2).toString("hex");
const ALICE = `sst${tag}-alice`;
const BOB = `sst${tag}-bob`;
const CERTS = `sst${tag}-certs`;
const LABEL = `signstar${tag}`;
const GROUP = tokenGroupName({ label: LABEL });

const SETUP = {
  ed25519: `{ key_type = "Curve25519", key_mechanisms = ["EdDsaSignature"], signature_type = "EdDsa"`,
  p256: `{ key_type = "EcP256", key_mechanisms = ["EcdsaSignature"], signature_type = "EcdsaP256"`,
};

function config(signers: readonly { user: string; key: string; kind: keyof typeof SETUP }[], extra: readonly string[] = []): string {
  return [
    "[system]",
    "iteration = 1",
    ...extra,
    'admin_secret_handling = "plaintext"',
    'non_admin_secret_handling = "plaintext"',
    "",
    "[pkcs11]",
    'module = "/usr/lib/softhsm/libsofthsm2.so"',
    "[[pkcs11.mappings]]",
    `admin = { token = { label = "${LABEL}" } }`,
    "[[pkcs11.mappings]]",
    `key_certificates = { system_user = "${CERTS}", ssh_authorized_key = "${KEY_C}" }`,
    ...signers.flatMap((s) => [
      "[[pkcs11.mappings]]",
      "[pkcs11.mappings.signing]",
      `system_user = "${s.user}"`,
      `ssh_authorized_key = "${s.key}"`,
      `token = { label = "${LABEL}" }`,
      `key = { label = "${s.user}-key" }`,
      `key_setup = ${SETUP[s.kind]}, key_context = { openpgp = { user_ids = ["${s.user} <${s.user}@signstar.test>"], version = "4" } } }`,
    ]),
    "",
  ].join("\n");
}

let host: PrivateHost;
let syslog: SyslogListener;
let work: string;
const env = (): Record<string, string> => ({ PATH: "/usr/sbin:/usr/bin:/sbin:/bin", SIGNSTAR_LOG_SOCKET: syslog.socket });
const bin = (name: string): string => join(REPO_ROOT, "dist", "bin", `${name}.js`);

async function writeConfig(text: string): Promise<void> {
  await mkdir(host.path("/etc/signstar"), { recursive: true, mode: 0o755 });
  await writeFile(host.path("/etc/signstar/config.toml"), text, { mode: 0o644 });
}

async function asRoot(name: string, args: readonly string[] = []) {
  return host.run([process.execPath, bin(name), ...args], { env: env(), timeoutMs: 300_000 });
}

/** Runs the tool as `user` with its groups, as sshd's session would (setpriv --init-groups). */
async function asUser(user: string, name: string, input: string, extraEnv: Record<string, string> = {}) {
  return host.run(["setpriv", `--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", process.execPath, bin(name)], { env: { ...env(), ...extraEnv }, input, timeoutMs: 60_000 });
}

async function sign(user: string, extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; data: string; sig: string }> {
  const data = join(work, `${user}-${randomBytes(4).toString("hex")}.bin`);
  await writeFile(data, randomBytes(1024));
  const r = await asUser(user, "signstar-download-signature", createSigningRequest(await hashFile(data), { "file-name": "payload" }), extraEnv);
  const sig = `${data}.asc`;
  if (r.code === 0) await writeFile(sig, `${parseSigningResponse(r.stdout).signature}\n`);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, data, sig };
}

async function keyring(): Promise<string> {
  const r = await asUser(CERTS, "signstar-download-key-certificates", "");
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

/** The token's directory (SoftHSM: one per token below the tokendir). */
async function tokenDirs(): Promise<string[]> {
  const r = await host.run(["find", "/var/lib/softhsm/tokens", "-mindepth", "1", "-maxdepth", "1", "-type", "d"]);
  return r.stdout.split("\n").filter(Boolean);
}

async function modes(dir: string): Promise<string[]> {
  const r = await host.run(["find", dir, "-exec", "stat", "-c", "%a %U:%G %n", "{}", "+"]);
  return r.stdout.split("\n").filter(Boolean);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-p11access-"));
  syslog = await startSyslog();
  host = await startPrivateHost();
  // Installed as the package installs it: the executables under their names in /usr/bin (the ForceCommands).
  for (const [name, file] of await packageExecutables()) await host.run(["ln", "-sf", file, join("/usr/bin", name)]);
  // Debian's SoftHSM as installed: an empty token directory (the overlay's copy of this machine's).
  await host.run(["sh", "-c", "rm -rf /var/lib/softhsm/tokens/* && stat -c '%a %U:%G' /etc/softhsm/softhsm2.conf /var/lib/softhsm/tokens"]);
}, 60_000);

afterAll(async () => {
  await host?.stop();
  await syslog?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("PKCS#11 token access through the production flow (Debian's SoftHSM)", () => {
  it("configure-build gives the users the softhsm group and the token's group", async () => {
    await writeConfig(config([{ user: ALICE, key: KEY_A, kind: "ed25519" }]));
    const r = await asRoot("signstar-configure-build");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`create group ${GROUP}: groupadd --system ${GROUP}\n`);
    for (const user of [ALICE, CERTS]) {
      const id = await host.run(["id", "-Gn", user]);
      expect(id.stdout.trim().split(" ").sort()).toEqual([user, GROUP, "softhsm"].sort());
    }
  });

  it("configure creates the token; the signing user signs with the real tool; gpg verifies", async () => {
    const r = await asRoot("signstar-configure");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^done: pkcs11 token label "${LABEL}": token directory .* readable by group ${GROUP} only`, "m"));
    const dirs = await tokenDirs();
    expect(dirs).toHaveLength(1);
    const listing = await modes(dirs[0]!);
    expect(listing[0]).toBe(`2750 root:${GROUP} ${dirs[0]}`);
    for (const line of listing.slice(1)) expect(line).toMatch(new RegExp(`^640 root:${GROUP} `));
    // Debian's tokendir loses group write: no softhsm member can plant or rename a token.
    expect((await host.run(["stat", "-c", "%a %U:%G", "/var/lib/softhsm/tokens"])).stdout).toBe("2750 root:softhsm\n");

    const s = await sign(ALICE);
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    expect(await gpgVerify(Buffer.from(await keyring()), s.sig, s.data)).toBe(0);
  });

  it("a second configure run changes nothing about access", async () => {
    const r = await asRoot("signstar-configure");
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/readable by group/);
  });

  it("a signer added later: configure-build, configure, and the new key's files are reachable", async () => {
    await writeConfig(config([{ user: ALICE, key: KEY_A, kind: "ed25519" }, { user: BOB, key: KEY_B, kind: "p256" }]));
    const cb = await asRoot("signstar-configure-build");
    expect(cb.code).toBe(0);
    const r = await asRoot("signstar-configure");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // The new key pair and certificate are new files, written 0600 by SoftHSM and then handed to the group.
    expect(r.stdout).toMatch(/^done: .*readable by group/m);
    for (const line of (await modes((await tokenDirs())[0]!)).slice(1)) expect(line).toMatch(new RegExp(`^640 root:${GROUP} `));
    const ring = await keyring();
    for (const user of [ALICE, BOB]) {
      const s = await sign(user);
      expect(s.stderr).toBe("");
      expect(s.code).toBe(0);
      expect(await gpgVerify(Buffer.from(ring), s.sig, s.data)).toBe(0);
    }
  });

  it("issue 12.6: no system log, no signature (exit 10, one line); audit_log = \"best-effort\" opts out", async () => {
    const signers = [{ user: ALICE, key: KEY_A, kind: "ed25519" as const }, { user: BOB, key: KEY_B, kind: "p256" as const }];
    const noLog = { SIGNSTAR_LOG_SOCKET: "/run/signstar-no-such-log-socket" };
    const refused = await sign(ALICE, noLog);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(/^signstar-download-signature: the audit entry could not be written to the system log \(logger exited with status 1 for \/run\/signstar-no-such-log-socket\); nothing was done\n$/);
    expect(refused.code).toBe(ExitCode.Audit);
    await writeConfig(config(signers, ['audit_log = "best-effort"']));
    try {
      const served = await sign(ALICE, noLog);
      expect(served.stderr).toBe("");
      expect(served.code).toBe(0);
    } finally {
      await writeConfig(config(signers));
    }
  });

  it("a user of the host outside the token's group does not see the token", async () => {
    const st = await stat(host.path("/var/lib/softhsm/tokens"));
    expect(st.mode & 0o007).toBe(0);
    const r = await host.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ls", "/var/lib/softhsm/tokens"]);
    expect(r.code).not.toBe(0);
  });
});
