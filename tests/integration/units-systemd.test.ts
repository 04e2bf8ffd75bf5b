/**
 * The resident signer's units and the p11-kit server's units under a booted systemd (tests/support/booted-systemd.ts),
 * installed as the package installs them and run in the operator's order (packaging/debian/README.Debian, step 3):
 *
 * 1. SoftHSM directly: config → signstar-configure-build (enables signstar-signer@<user>.socket: a link in
 *    sockets.target.wants; the limits drop-in signstar-signer@.service.d/10-signstar-limits.conf) → signstar-configure
 *    → daemon-reload → start the user's socket → reload ssh → a client signs over the container's sshd. The socket
 *    starts signstar-signer@<user>.service, which runs as the user with the configured limits in its environment and
 *    makes the signature (gpg verifies it with the certificate the key-certificates user downloads over sshd).
 * 2. p11-kit: /etc/signstar/p11-kit-signstar.env (SoftHSM behind it) and a config whose module is p11-kit-client.so →
 *    configure-build (makes signstar-p11kit, enables p11-kit-signstar.socket) → daemon-reload → `systemctl start
 *    p11-kit-signstar.socket` → configure provisions through the socket, systemd starting
 *    one p11-kit-signstar@ instance per connection → the resident signer signs through the socket. An instance runs as
 *    signstar-p11kit with the shipped sandbox, and `systemd-analyze security` on the running instance rates it as the
 *    offline check (tests/backends/pkcs11/p11kit-unit.test.ts) does.
 */
import { mkdir, readFile, readlink, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { P11_KIT_GROUP, P11_KIT_USER } from "../../lib/config/token-access.js";
import { gpgVerify } from "../configure/helpers.js";
import { bootSystemd, type BootedSystemd } from "../support/booted-systemd.js";
import { CLIENT } from "../support/log-proof.js";
import { P11_KIT_CLIENT_MODULE } from "../support/p11kit.js";
import { installSignstar } from "../support/booted-signstar.js";
import { softHsmConfig } from "../support/softhsm-config.js";
import { generateSshKey, type SshKey } from "../support/sshd.js";

const SIGNER = "usd-signer";
const CERTS = "usd-certs";
/** The test's files inside the container (its /tmp is a tmpfs of the container's own). */
const WORK = "/var/tmp/signstar-usd";
/** The offline check's bound (tests/backends/pkcs11/p11kit-unit.test.ts): systemd-analyze's scale is 0.0 to 10.0. */
const MAX_EXPOSURE = 0.5;
const P11_KIT_SOCKET = "/run/signstar/p11-kit/pkcs11";

/** One booted system with Signstar installed, the signing and key-certificates users' SSH keys in WORK. */
interface Host {
  readonly sys: BootedSystemd;
  readonly signerKey: SshKey;
  readonly certsKey: SshKey;
}

/** Boots, installs as the package does (packaging/tree.mjs: executables in /usr/bin, units in /usr/lib/systemd/system). */
async function bootHost(): Promise<Host> {
  const sys = await bootSystemd();
  try {
    await installSignstar(sys);
    // SoftHSM's store as the machine has it (other tests' tokens) is not this host's: start with an empty one.
    await operator(sys, ["sh", "-c", "rm -rf /var/lib/softhsm/tokens/*"]);
    await mkdir(sys.path(WORK), { mode: 0o700 });
    const [signerKey, certsKey] = await Promise.all([generateSshKey(sys.path(WORK), SIGNER), generateSshKey(sys.path(WORK), CERTS)]);
    const hostKey = (await readFile(sys.path("/etc/ssh/ssh_host_ed25519_key.pub"), "utf8")).trim().split(" ").slice(0, 2).join(" ");
    await writeFile(sys.path(`${WORK}/known_hosts`), `127.0.0.1 ${hostKey}\n`);
    await mkdir(sys.path("/etc/signstar"), { recursive: true, mode: 0o755 });
    return { sys, signerKey, certsKey };
  } catch (error) {
    await sys.stop();
    throw error;
  }
}

/** An operator's command inside the booted system: exit 0 and nothing on stderr, else it throws with both. */
async function operator(sys: BootedSystemd, argv: string[]): Promise<string> {
  const r = await sys.run(argv);
  if (r.code !== 0 || r.stderr !== "") throw new Error(`${argv.join(" ")}: exit ${r.code}, stderr: ${r.stderr}`);
  return r.stdout;
}

/** `systemctl show -p NAME unit`'s value. */
async function show(sys: BootedSystemd, unit: string, property: string): Promise<string> {
  return (await sys.systemctl("show", "-p", property, "--value", unit)).trim();
}

/** The user a process of the container runs as (its real, effective, saved and fs uid must agree). */
async function userOf(sys: BootedSystemd, pid: string): Promise<string> {
  const status = await readFile(sys.path(`/proc/${pid}/status`), "utf8");
  const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(status);
  expect(uids).not.toBeNull();
  expect(new Set(uids!.slice(1)).size).toBe(1);
  return (await operator(sys, ["id", "-nu", uids![1]!])).trim();
}

/**
 * The installed client signs WORK/<name> as SIGNER over the booted system's sshd (port 22 of its own network), and
 * gpg verifies the signature with the certificate CERTS downloads over the same sshd (its ForceCommand).
 */
async function signAndVerify(h: Host, name: string): Promise<void> {
  const file = `${WORK}/${name}`;
  await writeFile(h.sys.path(file), `${name} ${Date.now()}\n`);
  const sent = await h.sys.run([process.execPath, CLIENT, "send", "--host", "127.0.0.1", "--port", "22", "--user", SIGNER, "--identity", `${WORK}/${SIGNER}`, "--known-hosts", `${WORK}/known_hosts`, file]);
  expect(sent.stderr).toBe("");
  expect(sent.code).toBe(0);
  const ssh = ["ssh", "-T", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${WORK}/known_hosts`, "-o", "StrictHostKeyChecking=yes"];
  const keyring = `${WORK}/${name}.certs`;
  const fetched = await h.sys.run(["sh", "-c", `exec "$@" < /dev/null > ${keyring}`, "sh", ...ssh, "-i", `${WORK}/${CERTS}`, `${CERTS}@127.0.0.1`]);
  expect(fetched.stderr).toBe("");
  expect(fetched.code).toBe(0);
  expect(await gpgVerify(await readFile(h.sys.path(keyring)), h.sys.path(`${file}.sig`), h.sys.path(file))).toBe(0);
}

/** configure-build enabled the user's resident signer as `systemctl enable signstar-signer@<user>.socket` does. */
async function expectSignerEnabled(sys: BootedSystemd): Promise<void> {
  const link = sys.path(`/etc/systemd/system/sockets.target.wants/signstar-signer@${SIGNER}.socket`);
  expect(await readlink(link)).toBe("/usr/lib/systemd/system/signstar-signer@.socket");
  expect((await sys.systemctl("is-enabled", `signstar-signer@${SIGNER}.socket`)).trim()).toBe("enabled");
}

/** Starts the user's socket (as the boot would) and reloads sshd for Signstar's drop-ins; the signer is not running yet. */
async function startSignerSocket(sys: BootedSystemd): Promise<void> {
  await sys.systemctl("start", `signstar-signer@${SIGNER}.socket`);
  expect(await show(sys, `signstar-signer@${SIGNER}.socket`, "ActiveState")).toBe("active");
  expect(await show(sys, `signstar-signer@${SIGNER}.service`, "ActiveState")).toBe("inactive");
  expect((await operator(sys, ["stat", "-c", "%U %a", `/run/signstar/signer/${SIGNER}/socket`])).trim()).toBe(`${SIGNER} 600`);
  await sys.systemctl("reload", "ssh");
}

/** The signature was made by the resident signer: socket activation started it, as the user. Returns its MainPID. */
async function expectResidentSigner(sys: BootedSystemd): Promise<string> {
  const unit = `signstar-signer@${SIGNER}.service`;
  expect(await show(sys, unit, "ActiveState")).toBe("active");
  expect(await show(sys, unit, "NRestarts")).toBe("0");
  const mainPid = await show(sys, unit, "MainPID");
  expect(Number(mainPid)).toBeGreaterThan(0);
  expect(await userOf(sys, mainPid)).toBe(SIGNER);
  return mainPid;
}

describe("the resident signer under a booted systemd (SoftHSM)", () => {
  let h: Host;
  beforeAll(async () => {
    h = await bootHost();
  }, 300_000);
  afterAll(async () => {
    await h?.sys.stop();
  });

  it("configure-build enables the user's socket and writes the limits drop-in; the first signature starts the signer as the user, with those limits", async () => {
    const { sys } = h;
    const config = softHsmConfig({
      tokens: ["usd"],
      signers: [{ user: SIGNER, publicKey: h.signerKey.publicKey, token: "usd", key: SIGNER, userId: `${SIGNER} <${SIGNER}@usd.test>` }],
      keyCertificates: { user: CERTS, publicKey: h.certsKey.publicKey },
    }).replace("[system]\n", "[system]\nsigning_concurrency = 3\nsigning_queue = 7\n");
    await writeFile(sys.path("/etc/signstar/config.toml"), config, { mode: 0o644 });
    await operator(sys, ["signstar-configure-build"]);
    await operator(sys, ["signstar-configure"]);
    await sys.systemctl("daemon-reload");
    await expectSignerEnabled(sys);
    const dropIn = "/etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf";
    expect(await readFile(sys.path(dropIn), "utf8")).toMatch(/^Environment=SIGNSTAR_SIGNER_CONCURRENT=3\nEnvironment=SIGNSTAR_SIGNER_QUEUED=7\n/m);
    expect((await show(sys, `signstar-signer@${SIGNER}.service`, "DropInPaths")).split(" ")).toContain(dropIn);
    await startSignerSocket(sys);

    await signAndVerify(h, "release.tar");

    const mainPid = await expectResidentSigner(sys);
    // The drop-in's limits reached the running signer (systemd's view and the process's own environment).
    const environment = (await show(sys, `signstar-signer@${SIGNER}.service`, "Environment")).split(" ");
    expect(environment).toEqual(expect.arrayContaining(["SIGNSTAR_SIGNER_IDLE_SECONDS=300", "SIGNSTAR_SIGNER_CONCURRENT=3", "SIGNSTAR_SIGNER_QUEUED=7"]));
    const processEnv = (await readFile(sys.path(`/proc/${mainPid}/environ`), "utf8")).split("\0");
    expect(processEnv).toEqual(expect.arrayContaining(["SIGNSTAR_SIGNER_CONCURRENT=3", "SIGNSTAR_SIGNER_QUEUED=7"]));
    // The same resident process answers the next request (no fallback, no second start).
    await signAndVerify(h, "release-2.tar");
    expect(await show(sys, `signstar-signer@${SIGNER}.service`, "MainPID")).toBe(mainPid);
  }, 240_000);
});

describe("the p11-kit server as signstar-p11kit under a booted systemd (SoftHSM behind p11-kit)", () => {
  let h: Host;
  beforeAll(async () => {
    h = await bootHost();
  }, 300_000);
  afterAll(async () => {
    await h?.sys.stop();
  });

  it("configure provisions through the socket, systemd starting the server as signstar-p11kit; the resident signer signs through it", async () => {
    const { sys } = h;
    const label = "usd-p11";
    // Every SoftHSM token is exported (the free slot too, so that configure can initialise the token through the socket).
    await writeFile(sys.path("/etc/signstar/p11-kit-signstar.env"), "SIGNSTAR_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so\nSIGNSTAR_PKCS11_TOKEN_URI=pkcs11:model=SoftHSM%20v2\n", { mode: 0o644 });
    const config = softHsmConfig({
      module: P11_KIT_CLIENT_MODULE,
      tokens: [label],
      // p11-kit 0.24 does not forward EdDSA.
      signers: [{ user: SIGNER, publicKey: h.signerKey.publicKey, token: label, key: SIGNER, kind: "p256", userId: `${SIGNER} <${SIGNER}@usd.test>` }],
      keyCertificates: { user: CERTS, publicKey: h.certsKey.publicKey },
    });
    await writeFile(sys.path("/etc/signstar/config.toml"), config, { mode: 0o644 });
    expect(await operator(sys, ["signstar-configure-build"])).toContain(`create user ${P11_KIT_USER}: `);
    expect((await operator(sys, ["id", "-Gn", P11_KIT_USER])).trim().split(" ").sort()).toEqual([P11_KIT_USER, "softhsm"]);
    await sys.systemctl("daemon-reload");
    await expectSignerEnabled(sys);
    // configure-build enabled the server's socket; the operator starts it (or boots) before configure provisions through it.
    expect((await sys.systemctl("is-enabled", "p11-kit-signstar.socket")).trim()).toBe("enabled");
    await sys.systemctl("start", "p11-kit-signstar.socket");
    expect((await operator(sys, ["stat", "-c", "%U:%G %a", P11_KIT_SOCKET])).trim()).toBe(`root:${P11_KIT_GROUP} 660`);

    const configured = await operator(sys, ["signstar-configure"]);
    // Nothing to hand over: the server made the token's files, as its own user.
    expect(configured).not.toMatch(/owned by signstar-p11kit/);
    const store = (await operator(sys, ["find", "/var/lib/softhsm/tokens", "-mindepth", "1", "-exec", "stat", "-c", "%U:%G %a %F", "{}", "+"])).split("\n").filter(Boolean);
    expect(store.length).toBeGreaterThan(2);
    for (const line of store) expect(line).toMatch(new RegExp(`^${P11_KIT_USER}:softhsm (2700 directory|600 regular (empty )?file)$`));
    // configure's connections were served by instances systemd started (Accept=yes: one per connection).
    expect(Number(await show(sys, "p11-kit-signstar.socket", "NAccepted"))).toBeGreaterThan(0);

    await startSignerSocket(sys);
    const accepted = Number(await show(sys, "p11-kit-signstar.socket", "NAccepted"));
    await signAndVerify(h, "release.tar");
    await expectResidentSigner(sys);
    // The signer reached the token through the socket.
    expect(Number(await show(sys, "p11-kit-signstar.socket", "NAccepted"))).toBeGreaterThan(accepted);
  }, 240_000);

  it("a server instance runs as signstar-p11kit under the shipped sandbox; systemd-analyze security rates the running instance at most the offline bound", async () => {
    const { sys } = h;
    // A client that connects and stays: systemd starts an instance for it, which waits for its requests.
    await sys.systemctl("start", "p11-kit-signstar.socket");
    const holder = "usd-p11kit-holder.service";
    await operator(sys, ["systemd-run", "--quiet", `--unit=${holder}`, "--property=Type=exec", process.execPath, "-e", `require("net").connect(${JSON.stringify(P11_KIT_SOCKET)}); setInterval(() => {}, 60000)`]);
    let instance = "";
    for (let attempt = 0; attempt < 100 && instance === ""; attempt++) {
      const units = await sys.systemctl("list-units", "--plain", "--no-legend", "--state=running", "p11-kit-signstar@*.service");
      instance = units.split(/\s+/)[0] ?? "";
      if (instance === "") await new Promise((r) => setTimeout(r, 100));
    }
    expect(instance).toMatch(/^p11-kit-signstar@.+\.service$/);

    const pid = await show(sys, instance, "MainPID");
    expect(Number(pid)).toBeGreaterThan(0);
    expect(await userOf(sys, pid)).toBe(P11_KIT_USER);
    // p11-kit runs its remote command as a helper (/usr/libexec/p11-kit/p11-kit-remote), with the unit's arguments.
    expect((await readFile(sys.path(`/proc/${pid}/cmdline`), "utf8")).split("\0")).toEqual(expect.arrayContaining(["--provider", "/usr/lib/softhsm/libsofthsm2.so", "pkcs11:model=SoftHSM%20v2"]));
    const status = await readFile(sys.path(`/proc/${pid}/status`), "utf8");
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^CapBnd:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    const props = await sys.systemctl("show", instance, "-p", "User,ProtectSystem,PrivateNetwork,PrivateDevices,NoNewPrivileges,RestrictAddressFamilies,MemoryDenyWriteExecute");
    expect(props.trim().split("\n").sort()).toEqual(
      [`User=${P11_KIT_USER}`, "ProtectSystem=strict", "PrivateNetwork=yes", "PrivateDevices=yes", "NoNewPrivileges=yes", "RestrictAddressFamilies=AF_UNIX", "MemoryDenyWriteExecute=yes"].sort(),
    );
    // The sandbox is in effect in the process: its network namespace is not the manager's, / is read-only.
    expect(await readlink(sys.path(`/proc/${pid}/ns/net`))).not.toBe(await readlink(sys.path("/proc/1/ns/net")));
    const mounts = await readFile(sys.path(`/proc/${pid}/mountinfo`), "utf8");
    expect(mounts).toMatch(/^\S+ \S+ \S+ \/ \/ ro,/m);
    expect(mounts).toMatch(/^\S+ \S+ \S+ \S+ \/var\/lib\/softhsm\/tokens rw,/m);

    const analysed = await sys.run(["systemd-analyze", "security", "--no-pager", instance], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", SYSTEMD_COLORS: "0" } });
    const online = /Overall exposure level for \S+: (\d+\.\d)/.exec(analysed.stdout);
    expect(online, analysed.stdout + analysed.stderr).not.toBeNull();
    expect(Number(online![1])).toBeLessThanOrEqual(MAX_EXPOSURE);

    await sys.systemctl("stop", holder);
  }, 120_000);
});
