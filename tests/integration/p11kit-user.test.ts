/**
 * Issue 17.5: the p11-kit server that fronts the token for every member of signstar-pkcs11 runs as its own system
 * user, never as root, and owns the SoftHSM token store. Production flow on a private host with Debian's SoftHSM:
 * the operator writes /etc/signstar/p11-kit-signstar.env and the config (module p11-kit-client.so) →
 * signstar-configure-build (makes signstar-p11kit, in group softhsm) → the shipped units run as systemd would
 * (socket root:signstar-pkcs11 0660, one `p11-kit remote` per connection as the unit's User=) →
 * signstar-configure (root, through the socket: token, key, PINs) → the signing tool as the signing user, through
 * the socket → gpg verifies. A store left by a root-run server (the unit before this fix) is handed over by the
 * next configure run.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { P11_KIT_GROUP, P11_KIT_USER } from "../../lib/config/token-access.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { parseSigningResponse } from "../../lib/signing/response.js";
import { gpgVerify } from "../configure/helpers.js";
import { KEY_A, KEY_C } from "../host/fixtures.js";
import { P11_KIT_CLIENT_MODULE, startP11KitUnits, unitSettings } from "../support/p11kit.js";
import { startPrivateHost, type PrivateHost } from "../support/private-host.js";
import { packageExecutables } from "../support/production-host.js";
import { REPO_ROOT } from "../support/repo.js";
import { softHsmConfig } from "../support/softhsm-config.js";
import { startSyslog, type SyslogListener } from "../support/syslog.js";

const tag = randomBytes(2).toString("hex");
const SIGNER = `spk${tag}-signer`;
const CERTS = `spk${tag}-certs`;
const LABEL = `signstar${tag}`;

const CONFIG = softHsmConfig({
  module: P11_KIT_CLIENT_MODULE,
  tokens: [LABEL],
  signers: [{ user: SIGNER, publicKey: KEY_A, token: LABEL, key: `${SIGNER}-key`, kind: "p256", userId: `${SIGNER} <${SIGNER}@signstar.test>` }],
  keyCertificates: { user: CERTS, publicKey: KEY_C },
});

// A SoftHSM store that belongs to Signstar: every token is exported (the free slot too, so that
// signstar-configure can initialise the token through the socket).
const ENV_FILE = "SIGNSTAR_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so\nSIGNSTAR_PKCS11_TOKEN_URI=pkcs11:model=SoftHSM%20v2\n";

let host: PrivateHost;
let syslog: SyslogListener;
let work: string;
let units: { stop(): Promise<void> } | undefined;
const env = (): Record<string, string> => ({ PATH: "/usr/sbin:/usr/bin:/sbin:/bin", SIGNSTAR_LOG_SOCKET: syslog.socket });
const bin = (name: string): string => join(REPO_ROOT, "dist", "bin", `${name}.js`);
const asRoot = (name: string) => host.run([process.execPath, bin(name)], { env: env(), timeoutMs: 300_000 });
/** As sshd's session would run the tool (setpriv --init-groups). */
const asUser = (user: string, name: string, input: string) =>
  host.run(["setpriv", `--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", process.execPath, bin(name)], { env: env(), input, timeoutMs: 60_000 });

async function sign(): Promise<{ code: number | null; stderr: string; data: string; sig: string }> {
  const data = join(work, `${randomBytes(4).toString("hex")}.bin`);
  await writeFile(data, randomBytes(1024));
  const r = await asUser(SIGNER, "signstar-download-signature", createSigningRequest(await hashFile(data), { "file-name": "payload" }));
  const sig = `${data}.asc`;
  if (r.code === 0) await writeFile(sig, `${parseSigningResponse(r.stdout).signature}\n`);
  return { code: r.code, stderr: r.stderr, data, sig };
}

/** owner:group mode of every token directory and file below Debian's tokendir. */
async function store(): Promise<string[]> {
  const r = await host.run(["find", "/var/lib/softhsm/tokens", "-mindepth", "1", "-exec", "stat", "-c", "%U:%G %a %F", "{}", "+"]);
  return r.stdout.split("\n").filter(Boolean);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-p11kit-user-"));
  syslog = await startSyslog();
  host = await startPrivateHost();
  for (const [name, file] of await packageExecutables()) await host.run(["ln", "-sf", file, join("/usr/bin", name)]);
  await host.run(["sh", "-c", "rm -rf /var/lib/softhsm/tokens/*"]);
  await mkdir(host.path("/etc/signstar"), { recursive: true, mode: 0o755 });
  await writeFile(host.path("/etc/signstar/config.toml"), CONFIG, { mode: 0o644 });
  await writeFile(host.path("/etc/signstar/p11-kit-signstar.env"), ENV_FILE, { mode: 0o644 });
}, 60_000);

afterAll(async () => {
  await units?.stop();
  await host?.stop();
  await syslog?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("p11-kit server as its own user (issue 17.5)", () => {
  it("the unit names the user configure-build makes", async () => {
    const svc = unitSettings(await readFile(join(REPO_ROOT, "systemd/p11-kit-signstar@.service"), "utf8"), "Service");
    expect(svc.get("User")).toEqual([P11_KIT_USER]);
    const r = await asRoot("signstar-configure-build");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`create user ${P11_KIT_USER}: useradd --system --user-group --groups softhsm --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${P11_KIT_USER}\n`);
    expect((await host.run(["id", "-Gn", P11_KIT_USER])).stdout.trim().split(" ").sort()).toEqual([P11_KIT_USER, "softhsm"]);
    expect((await host.run(["id", "-Gn", SIGNER])).stdout.trim().split(" ").sort()).toEqual([P11_KIT_GROUP, SIGNER].sort());
    expect((await host.run(["getent", "passwd", P11_KIT_USER])).stdout).toMatch(/:\/nonexistent:\/usr\/sbin\/nologin\n$/);
    // The server's socket is enabled as `systemctl enable p11-kit-signstar.socket` would: configure provisions through it.
    expect(await readlink(host.path("/etc/systemd/system/sockets.target.wants/p11-kit-signstar.socket"))).toBe("/usr/lib/systemd/system/p11-kit-signstar.socket");
    expect((await asRoot("signstar-configure-build")).stdout).toBe("nothing to do\n");
  });

  it("configure provisions through the socket; the server writes the token as its user; the signer signs through it", async () => {
    units = await startP11KitUnits({
      host,
      socketUnit: await readFile(join(REPO_ROOT, "systemd/p11-kit-signstar.socket"), "utf8"),
      serviceUnit: await readFile(join(REPO_ROOT, "systemd/p11-kit-signstar@.service"), "utf8"),
    });
    expect((await host.run(["stat", "-c", "%U:%G %a", "/run/signstar/p11-kit/pkcs11"])).stdout).toBe(`root:${P11_KIT_GROUP} 660\n`);
    const r = await asRoot("signstar-configure");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // Nothing to hand over: the token directory and files were created by the server, running as its user.
    expect(r.stdout).not.toMatch(/owned by signstar-p11kit/);
    const files = await store();
    expect(files.length).toBeGreaterThan(2);
    for (const line of files) expect(line).toMatch(new RegExp(`^${P11_KIT_USER}:softhsm (2700 directory|600 regular (empty )?file)$`));

    const keyring = await asUser(CERTS, "signstar-download-key-certificates", "");
    expect(keyring.stderr).toBe("");
    expect(keyring.code).toBe(0);
    const s = await sign();
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    expect(await gpgVerify(Buffer.from(keyring.stdout), s.sig, s.data)).toBe(0);
    // The signer reaches the token only through the socket: it cannot even list the store.
    expect((await asUser(SIGNER, "signstar-download-signature", "")).code).not.toBe(0);
    const ls = await host.run(["setpriv", `--reuid=${SIGNER}`, `--regid=${SIGNER}`, "--init-groups", "ls", "/var/lib/softhsm/tokens"]);
    expect(ls.code).not.toBe(0);
  });

  it("a store written by root (the unit ran as root before) is handed to the server's user by configure", async () => {
    // As the root-run server left it: SoftHSM run as root writes 0700/0600 root:root.
    const left = await host.run(["sh", "-c", "for d in /var/lib/softhsm/tokens/*/; do chown -R root:root $d && chmod 0700 $d && chmod 0600 $d/*; done"]);
    expect(left.code).toBe(0);
    const refused = await sign();
    expect(refused.code).not.toBe(0);
    const r = await asRoot("signstar-configure");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^done: SoftHSM token store /var/lib/softhsm/tokens: owned by ${P11_KIT_USER}, the p11-kit server's user \\(\\d+ change\\(s\\)\\)$`, "m"));
    for (const line of await store()) expect(line).toMatch(new RegExp(`^${P11_KIT_USER}:root (2?700 directory|600 regular (empty )?file)$`));
    const s = await sign();
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
  });
});
