/**
 * A production host for end-to-end tests and the demo: a private host (tests/support/private-host.ts) on which
 * Signstar is installed the way an operator installs it and nothing else is prepared.
 *
 * - Every executable of package.json's "bin" is linked into /usr/bin under its name (what the package
 *   installs), so configure-build's default ForceCommands (/usr/bin/…) are the real ones; or, with `deb`, the
 *   Debian package is installed with apt-get (tests/packaging/deb.test.ts).
 * - /dev/log leads to a syslog receiver (`journal`), as journald's socket does on a booted host.
 * - The configuration is written to /etc/signstar/config.toml, the first place the tools look.
 * - sshd is Debian's own: /etc/ssh/sshd_config with its Include of sshd_config.d/, PAM, StrictModes and the
 *   machine's host keys; the only addition is a drop-in naming the loopback port, read before Signstar's.
 *
 * The token, keys, users and secrets come only from the production commands the test runs
 * (signstar-configure-build, signstar-configure): nothing is provisioned behind the operator's back.
 */
import { type ChildProcess } from "node:child_process";
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { startPrivateHost, type PrivateHost } from "./private-host.js";
import { REPO_ROOT } from "./repo.js";
import { type RunOptions, type RunResult } from "./run.js";
import { freePort, probe, waitExit } from "./sshd.js";
import { startSyslog, type SyslogListener } from "./syslog.js";

export const CONFIG_PATH = "/etc/signstar/config.toml";
/** Read by sshd before Signstar's drop-ins (first value wins): only the port and address differ from Debian's. */
const LISTEN_DROP_IN = "/etc/ssh/sshd_config.d/05-test-listen.conf";

export interface ProductionSshd {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** A known_hosts file (outside the private host) pinning the host's ed25519 key for `[127.0.0.1]:port`. */
  readonly knownHosts: string;
}

export interface ProductionHost extends PrivateHost {
  /** Receives what the tools write to /dev/log. */
  readonly journal: SyslogListener;
  /** Writes /etc/signstar/config.toml (root, 0644). */
  writeConfig(text: string): Promise<void>;
  /** Runs /usr/bin/<name> inside the host as root, or as `user` (runuser, a login-less session). */
  tool(name: string, args?: readonly string[], opts?: RunOptions & { readonly user?: string }): Promise<RunResult>;
  /** An operator's command that must succeed: `tool` as root; anything on stderr or a non-zero exit throws with both. */
  operator(name: string, args?: readonly string[]): Promise<string>;
  /** Starts the host's sshd (once) on a free loopback port. */
  startSshd(): Promise<ProductionSshd>;
  /** `systemctl reload ssh` on a booted host: SIGHUP, sshd re-reads its configuration and drop-ins. */
  reloadSshd(): Promise<void>;
  /**
   * Starts the signing log writer the way docs/tlog.md tells an operator to on a host without systemd:
   * `runuser -u signstar-log -- signstar-log-writer --key - < /var/lib/signstar/log.key` (root opens the key, the
   * writer runs as its own user); resolves once its socket is there. Stopped (SIGTERM) with the host.
   */
  startLogWriter(opts?: { readonly command?: string }): Promise<void>;
  /** SIGTERM to the log writer; resolves when it has exited. */
  stopLogWriter(): Promise<void>;
}

/** The documented command line of a log writer started without systemd (docs/tlog.md). */
export const LOG_WRITER_COMMAND = "exec runuser -u signstar-log -- /usr/bin/signstar-log-writer --key - < /var/lib/signstar/log.key";
/** The same with the log key on a token (signing_log.pkcs11_token): no key to hand over, the writer logs in itself. */
export const TOKEN_LOG_WRITER_COMMAND = "exec runuser -u signstar-log -- /usr/bin/signstar-log-writer";

/** package.json's "bin": executable name → file in the checkout. */
export async function packageExecutables(): Promise<Map<string, string>> {
  const manifest = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
  return new Map(Object.entries(manifest.bin).map(([name, file]) => [name, resolve(REPO_ROOT, file)]));
}

export interface ProductionHostOptions {
  /**
   * Install Signstar from this Debian package (`apt-get install <deb>` inside the host, with only the
   * dependencies already installed on this machine) instead of linking the checkout's executables.
   */
  readonly deb?: string;
}

/** `apt-get install` of a local .deb inside the host; apt resolves its Depends from what is installed. */
async function installDeb(host: PrivateHost, deb: string): Promise<void> {
  const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LANG: "C.UTF-8" };
  const r = await host.run(["apt-get", "install", "-y", "-q", "-o", "Dpkg::Use-Pty=0", "--no-install-recommends", resolve(deb)], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`apt-get install ${deb} failed (${r.code}): ${r.stderr.trim().split("\n").slice(-5).join(" | ")}`);
}

export async function startProductionHost(opts: ProductionHostOptions = {}): Promise<ProductionHost> {
  const host = await startPrivateHost();
  const outside = await mkdtemp(join(tmpdir(), "signstar-production-host-"));
  let journal: SyslogListener | undefined;
  let sshd: { child: ChildProcess; info: ProductionSshd } | undefined;
  let logWriter: { child: ChildProcess; stderr: () => string } | undefined;
  try {
    if (opts.deb !== undefined) await installDeb(host, opts.deb);
    else {
      for (const [name, file] of await packageExecutables()) {
        const link = host.path(join("/usr/bin", name));
        await rm(link, { force: true });
        await symlink(file, link);
      }
    }
    journal = await startSyslog({ host });
  } catch (error) {
    await host.stop();
    await rm(outside, { recursive: true, force: true });
    throw error;
  }
  const events = journal;

  const startSshd = async (): Promise<ProductionSshd> => {
    if (sshd !== undefined) return sshd.info;
    // What ssh.service's RuntimeDirectory=sshd does on a booted host.
    await mkdir(host.path("/run/sshd"), { recursive: true, mode: 0o755 });
    const hostKey = (await readFile(host.path("/etc/ssh/ssh_host_ed25519_key.pub"), "utf8")).trim().split(" ").slice(0, 2).join(" ");
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      await writeFile(host.path(LISTEN_DROP_IN), `# Test only: where this host's sshd listens.\nPort ${port}\nListenAddress 127.0.0.1\n`);
      const child = host.spawn(["/usr/sbin/sshd", "-D", "-e"], { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      child.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
      const deadline = Date.now() + 10_000;
      let up = false;
      while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
        if (await probe(port)) {
          up = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!up) {
        child.kill("SIGKILL");
        await waitExit(child, 2000);
        if (/Address already in use/.test(log)) continue;
        throw new Error(`sshd did not start: ${log.trim().split("\n").slice(-3).join(" | ")}`);
      }
      const knownHosts = join(outside, "known_hosts");
      await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`);
      sshd = { child, info: { host: "127.0.0.1", port, knownHosts } };
      return sshd.info;
    }
    throw new Error("sshd: no free port after 5 attempts");
  };

  const tool: ProductionHost["tool"] = (name, args = [], opts = {}) => {
    const { user, ...runOpts } = opts;
    const argv = user === undefined ? [join("/usr/bin", name), ...args] : ["runuser", "-u", user, "--", join("/usr/bin", name), ...args];
    return host.run(argv, { timeoutMs: 120_000, ...runOpts });
  };

  return {
    ...host,
    journal: events,
    async writeConfig(text) {
      await mkdir(dirname(host.path(CONFIG_PATH)), { recursive: true, mode: 0o755 });
      await writeFile(host.path(CONFIG_PATH), text, { mode: 0o644 });
    },
    tool,
    async operator(name, args = []) {
      const r = await tool(name, args);
      if (r.code !== 0 || r.stderr !== "") throw new Error(`${[name, ...args].join(" ")}: exit ${r.code}, stderr: ${r.stderr}`);
      return r.stdout;
    },
    startSshd,
    async reloadSshd() {
      if (sshd === undefined) throw new Error("sshd is not running");
      sshd.child.kill("SIGHUP");
      // sshd re-executes itself and listens again; wait until it answers.
      const deadline = Date.now() + 10_000;
      await new Promise((r) => setTimeout(r, 100));
      while (!(await probe(sshd.info.port))) {
        if (Date.now() > deadline) throw new Error("sshd did not come back after SIGHUP");
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async startLogWriter(opts = {}) {
      if (logWriter !== undefined && logWriter.child.exitCode === null) return;
      const child = host.spawn(["sh", "-c", opts.command ?? LOG_WRITER_COMMAND], { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      child.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
      logWriter = { child, stderr: () => log };
      const socket = host.path("/run/signstar/log/writer.sock");
      const deadline = Date.now() + 30_000;
      while (!(await lstat(socket).then((st) => st.isSocket(), () => false))) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`signstar-log-writer exited ${String(child.exitCode ?? child.signalCode)}: ${log.trim()}`);
        if (Date.now() > deadline) throw new Error(`signstar-log-writer did not listen within 30 s: ${log.trim()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stopLogWriter() {
      if (logWriter === undefined) return;
      const { child } = logWriter;
      logWriter = undefined;
      if (child.exitCode === null && child.signalCode === null) {
        // The writer runs below sh's exec as runuser's child; runuser passes SIGTERM on.
        child.kill("SIGTERM");
        await waitExit(child, 10_000);
      }
    },
    async stop() {
      if (logWriter !== undefined) logWriter.child.kill("SIGTERM");
      if (sshd !== undefined) sshd.child.kill("SIGTERM");
      await events.stop().catch(() => undefined);
      await host.stop();
      await rm(outside, { recursive: true, force: true });
    },
  };
}
