/**
 * The Debian package, tested installed: `packaging/debian/build-deb.mjs` (what `npm run package` runs after the
 * build) makes the .deb from this checkout's dist/; lintian finds no error in it; `apt-get install ./….deb` on a
 * private host (tests/support/production-host.ts, overlays on /etc /usr /var: nothing reaches this machine)
 * installs it with only the dependencies this machine already has; then the operator's flow runs with the
 * package's /usr/bin tools and nothing from the checkout: signstar-configure-build and signstar-configure on a
 * SoftHSM token, sshd, the package's client signs, gpg verifies with the certificate the host serves. The man
 * pages are found and render cleanly, the units pass systemd-analyze verify, and `apt-get purge` removes every
 * file of the package but none of the host's keys, secrets or state.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../lib/cli/commands/index.js";
import { hasCompletion } from "../../lib/cli/completion.js";
import { CONFIG_PAGE, manSection } from "../../lib/cli/man.js";
import { REPO_ROOT } from "../support/repo.js";
import { run } from "../support/run.js";
import { startProductionHost, type ProductionHost, type ProductionSshd } from "../support/production-host.js";
import { softHsmConfig } from "../support/softhsm-config.js";
import { generateSshKey, runSsh, type SshKey } from "../support/sshd.js";

const exec = promisify(execFile);
const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as {
  version: string;
  bin: Record<string, string>;
  devDependencies: Record<string, string>;
};
const SIGNER = "pkgtest-signer";
const CERTS = "pkgtest-certs";
const ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", DEBIAN_FRONTEND: "noninteractive" };

let work: string;
let deb: string;
let host: ProductionHost | undefined;
let sshd: ProductionSshd;
const keys = new Map<string, SshKey>();
/** `dpkg -L signstar` on the installed host. */
let installed: string[] = [];

function config(): string {
  return softHsmConfig({
    tokens: ["pkgtest"],
    signers: [{ user: SIGNER, publicKey: keys.get(SIGNER)!.publicKey, token: "pkgtest", key: SIGNER, userId: "Package test <pkg@signstar.test>" }],
    keyCertificates: { user: CERTS, publicKey: keys.get(CERTS)!.publicKey },
  });
}

/** Runs argv inside the installed host as root; its stderr must be empty and its exit code 0. */
async function inside(argv: readonly string[]): Promise<string> {
  const r = await host!.run(argv, { env: ENV, timeoutMs: 180_000 });
  expect(r.stderr, argv.join(" ")).toBe("");
  expect(r.code, argv.join(" ")).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-deb-test-"));
  const built = await run(process.execPath, [join(REPO_ROOT, "packaging", "debian", "build-deb.mjs"), "--out", work], { timeoutMs: 300_000 });
  if (built.code !== 0) throw new Error(`build-deb.mjs failed: ${built.stderr}`);
  deb = built.stdout.trim();
  for (const user of [SIGNER, CERTS]) keys.set(user, await generateSshKey(work, user));
}, 300_000);

afterAll(async () => {
  await host?.stop();
  await rm(work, { recursive: true, force: true });
});

describe("the Debian package", () => {
  it("is signstar_<version>_<arch>.deb with the tools, library, units, man pages and completions, and nothing of development", async () => {
    const arch = (await exec("dpkg", ["--print-architecture"])).stdout.trim();
    expect(deb).toBe(join(work, `signstar_${pkg.version}_${arch}.deb`));
    const field = async (name: string): Promise<string> => (await exec("dpkg-deb", ["-f", deb, name])).stdout.trim();
    expect(await field("Package")).toBe("signstar");
    expect(await field("Architecture")).toBe(arch);
    const depends = await field("Depends");
    for (const d of ["nodejs (>= ", "openssh-server", "p11-kit", "passwd", "libc6"]) expect(depends).toContain(d);
    expect(await field("Suggests")).toContain("softhsm2");

    const listing = (await exec("dpkg-deb", ["-c", deb], { maxBuffer: 16 << 20 })).stdout;
    const paths = listing.split("\n").filter((l) => l !== "").map((l) => l.split(/\s+/).slice(5).join(" ").replace(/^\.\//, "/").replace(/ -> .*$/, ""));
    for (const name of Object.keys(pkg.bin)) expect(paths, name).toContain(`/usr/bin/${name}`);
    for (const unit of readdirSync(join(REPO_ROOT, "systemd"))) expect(paths).toContain(`/usr/lib/systemd/system/${unit}`);
    expect(paths).toContain("/usr/lib/tmpfiles.d/signstar.conf");
    for (const c of COMMANDS) {
      expect(paths).toContain(`/usr/share/man/man${manSection(c)}/${c.name}.${manSection(c)}.gz`);
      if (hasCompletion(c)) expect(paths).toContain(`/usr/share/bash-completion/completions/${c.name}`);
    }
    expect(paths).toContain("/usr/share/doc/signstar/examples/sshd_config.d/00-signstar-hardening.conf");
    expect(paths).toContain("/usr/share/doc/signstar/README.Debian");
    // Nothing in /etc (the package activates nothing), no TypeScript, no tests, no development dependency.
    expect(paths.filter((p) => p.startsWith("/etc/"))).toEqual([]);
    expect(paths.filter((p) => /\.ts$/.test(p) || p.includes("/dist/tests/"))).toEqual([]);
    for (const dev of Object.keys(pkg.devDependencies)) expect(paths).not.toContain(`/usr/lib/signstar/node_modules/${dev}/`);
    expect(paths).toContain(`/usr/share/man/man${CONFIG_PAGE.section}/${CONFIG_PAGE.name}.${CONFIG_PAGE.section}.gz`);
    // Our native addons where their loaders look (next to the compiled module), and the dependencies' addons.
    const ours = readdirSync(join(REPO_ROOT, "lib"), { recursive: true, encoding: "utf8" }).filter((p) => /\/build\/Release\/[^/]+\.node$/.test(p));
    expect(ours.length).toBeGreaterThan(0);
    for (const addon of ours) expect(paths).toContain(`/usr/lib/signstar/dist/lib/${addon}`);
    for (const dep of ["pkcs11js", "ssh2"]) expect(paths.some((p) => p.startsWith(`/usr/lib/signstar/node_modules/${dep}/`) && p.endsWith(".node")), dep).toBe(true);
  });

  it("has an Arch twin: packaging/arch/PKGBUILD installs the same tree, same version, same Node.js", async () => {
    const pkgbuild = await readFile(join(REPO_ROOT, "packaging", "arch", "PKGBUILD"), "utf8");
    expect(pkgbuild).toMatch(new RegExp(`^pkgver=${pkg.version.replace(/\./g, "\\.")}\\b`, "m"));
    expect(pkgbuild).toContain(`'nodejs>=${(await exec("dpkg-deb", ["-f", deb, "Depends"])).stdout.match(/nodejs \(>= ([^)]+)\)/)![1]}'`);
    expect(pkgbuild).toMatch(/^package\(\) \{\n(?:.*\n)*?\s+node packaging\/tree\.mjs --dest "\$pkgdir"/m);
  });

  it("lintian reports no errors", async () => {
    const r = await run("lintian", ["--no-tag-display-limit", deb], { timeoutMs: 300_000 });
    const errors = r.stdout.split("\n").filter((l) => l.startsWith("E:"));
    expect(errors).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
  }, 300_000);
});

describe("the installed package, as an operator uses it", () => {
  it("installs with apt-get from the .deb alone (no download)", async () => {
    host = await startProductionHost({ deb });
    installed = (await inside(["dpkg", "-L", "signstar"])).split("\n").filter((l) => l !== "");
    for (const name of Object.keys(pkg.bin)) {
      expect(installed).toContain(`/usr/bin/${name}`);
      expect((await inside([`/usr/bin/${name}`, "--version"])).trim()).toMatch(new RegExp(`^signstar-[a-z-]+ ${pkg.version.replace(/\./g, "\\.")}$`));
    }
    // The executables resolve into the package's tree, never into this checkout.
    const target = await inside(["readlink", "-f", "/usr/bin/signstar-configure"]);
    expect(target.trim()).toBe("/usr/lib/signstar/dist/bin/signstar-configure.js");
  }, 300_000);

  it("man finds every page and renders it without warnings; completions are where bash-completion looks", async () => {
    expect((await inside(["man", "-w", "signstar-configure"])).trim()).toBe("/usr/share/man/man8/signstar-configure.8.gz");
    expect((await inside(["man", "-w", CONFIG_PAGE.name])).trim()).toBe(`/usr/share/man/man${CONFIG_PAGE.section}/${CONFIG_PAGE.name}.${CONFIG_PAGE.section}.gz`);
    for (const c of COMMANDS) {
      const r = await host!.run(["sh", "-c", `MANWIDTH=80 man --warnings ${manSection(c)} ${c.name} 2>&1 >/dev/null`], { env: ENV });
      expect(r.stdout, c.name).toBe("");
      expect(r.code, c.name).toBe(0);
    }
    const completion = await inside(["bash", "--norc", "-c", "source /usr/share/bash-completion/completions/signstar-request-signature && complete -p signstar-request-signature"]);
    expect(completion).toContain("signstar-request-signature");
  }, 120_000);

  it("systemd-analyze verify accepts the installed units (templates as an instance), their commands and man pages", async () => {
    const units = readdirSync(join(REPO_ROOT, "systemd")).map((u) => `/usr/lib/systemd/system/${u.replace("@.", `@${SIGNER}.`)}`);
    const r = await host!.run(["systemd-analyze", "verify", ...units], { env: { ...ENV, SYSTEMD_LOG_LEVEL: "warning" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  }, 120_000);

  it("configure-build and configure provision a SoftHSM token with the package's tools; sshd takes the drop-ins", async () => {
    await host!.writeConfig(config());
    expect(await inside(["/usr/bin/signstar-config", "check"])).toMatch(/^\/etc\/signstar\/config\.toml: valid/);
    await inside(["/usr/bin/signstar-configure-build"]);
    await inside(["/usr/bin/signstar-configure"]);
    // configure-build rewrote the host-wide tmpfiles.d entry the package ships: the same text, so dpkg sees no change.
    expect(await inside(["dpkg", "--verify", "signstar"])).toBe("");
    sshd = await host!.startSshd();
  }, 300_000);

  it("the package's client signs over sshd with the package's ForceCommand; gpg verifies with the certificate the host serves", async () => {
    const data = join(work, "release.txt");
    await writeFile(data, "signed through the installed package\n");
    const client = await inside([
      "/usr/bin/signstar-request-signature", "send", "--host", sshd.host, "--port", String(sshd.port), "--user", SIGNER,
      "--identity", keys.get(SIGNER)!.privateKeyFile, "--known-hosts", sshd.knownHosts, data,
    ]);
    expect(client).toBe(`${data}.sig\n`);

    const keyring = await runSsh({ sshd, user: CERTS, identity: keys.get(CERTS)!.privateKeyFile });
    expect(keyring.code, keyring.stderr).toBe(0);
    const gnupg = await mkdtemp(join(tmpdir(), "signstar-deb-gpg-"));
    try {
      const env = { ...process.env, GNUPGHOME: gnupg };
      await writeFile(join(work, "keyring.asc"), keyring.stdout);
      await exec("gpg", ["--batch", "--quiet", "--import", join(work, "keyring.asc")], { env });
      const gpg = await exec("gpg", ["--batch", "--verify", `${data}.sig`, data], { env });
      expect(gpg.stderr).toMatch(/Good signature from "Package test <pkg@signstar.test>"/);
    } finally {
      await exec("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"]).catch(() => undefined);
      await rm(gnupg, { recursive: true, force: true });
    }
  }, 300_000);

  it("apt-get purge removes every file of the package and keeps the host's keys, secrets and state", async () => {
    const secrets = `/var/lib/signstar/home/${SIGNER}/.local/state/signstar/secrets`;
    const kept = ["/etc/signstar/config.toml", "/var/lib/signstar/configure/state.json", secrets, `/etc/ssh/sshd_config.d/10-signstar-user-${SIGNER}.conf`];
    for (const p of kept) expect(existsSync(host!.path(p)), p).toBe(true);
    const secretFiles = readdirSync(host!.path(secrets));
    expect(secretFiles.length).toBeGreaterThan(0);
    const tokens = readdirSync(host!.path("/var/lib/softhsm/tokens"));
    expect(tokens.length).toBeGreaterThan(0);

    await inside(["apt-get", "purge", "-y", "-q", "-o", "Dpkg::Use-Pty=0", "signstar"]);
    const status = await host!.run(["dpkg-query", "-W", "-f", "${Status}", "signstar"], { env: ENV });
    expect(status.stdout).not.toMatch(/installed/);
    // Every file and link the package installed is gone; directories other packages share may stay.
    const left = installed.filter((p) => {
      const seen = host!.path(p);
      return existsSync(seen) && !(p.endsWith("/") || readdirIsDir(seen));
    });
    expect(left).toEqual([]);
    expect(existsSync(host!.path("/usr/lib/signstar"))).toBe(false);
    for (const p of kept) expect(existsSync(host!.path(p)), p).toBe(true);
    expect(readdirSync(host!.path(secrets))).toEqual(secretFiles);
    expect(readdirSync(host!.path("/var/lib/softhsm/tokens"))).toEqual(tokens);
    expect(await inside(["getent", "passwd", SIGNER])).toContain(SIGNER);
  }, 300_000);
});

function readdirIsDir(path: string): boolean {
  try {
    readdirSync(path);
    return true;
  } catch {
    return false;
  }
}
