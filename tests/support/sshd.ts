/**
 * A real OpenSSH sshd on 127.0.0.1 with a random free port, its own host key and pid file, for tests.
 * `startSshd({ includes })` includes rendered drop-ins (e.g. `<root>/etc/ssh/sshd_config.d/*.conf` from
 * `signstar-configure-build --root`). `runSsh` runs the OpenSSH client with one key against it.
 *
 * Test-only deviations from a production sshd, all set before the includes so they win:
 * `UsePAM no` (no PAM stack in tests), `StrictModes no` (rendered trees live below world-writable /tmp,
 * which StrictModes rejects), `AllowUsers` limited to the test users, a generous MaxStartups for benchmarks.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { run } from "./run.js";

const exec = promisify(execFile);
export const SSHD_BIN = "/usr/sbin/sshd";

export interface SshdOptions {
  /** Lines `Include <pattern>` (after the harness settings). */
  readonly includes?: readonly string[];
  /** Extra config text appended after the includes (e.g. a Match block). */
  readonly extraConfig?: string;
  /** Environment for every session (`SetEnv`, before the includes), e.g. SIGNSTAR_CONFIG for a test config. */
  readonly env?: Readonly<Record<string, string>>;
  /** Restrict logins to these users (recommended). */
  readonly allowUsers?: readonly string[];
}

export interface Sshd {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  /** A known_hosts file pinning this sshd's host key for `[127.0.0.1]:port`. */
  readonly knownHosts: string;
  /** The host public key line (`ssh-ed25519 AAAA…`). */
  readonly hostPublicKey: string;
  readonly pid: number;
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface SshKey {
  readonly privateKeyFile: string;
  /** `ssh-ed25519 AAAA… comment` */
  readonly publicKey: string;
}

export async function generateSshKey(dir: string, name: string, type: "ed25519" | "ecdsa" | "rsa" = "ed25519"): Promise<SshKey> {
  const file = join(dir, name);
  await exec("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", name, "-f", file]);
  return { privateKeyFile: file, publicKey: (await readFile(`${file}.pub`, "utf8")).trim() };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves true once something on the port sends an SSH banner. */
export function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("data", (data: Buffer) => done(data.toString("latin1").startsWith("SSH-2.0-")));
    socket.once("error", () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * The included drop-ins with `env` added to every `SetEnv` line. Signstar's per-user Match blocks pin the locale
 * with SetEnv, and sshd replaces the global SetEnv with a Match block's, so the test environment (SIGNSTAR_CONFIG
 * …) must be in the Match blocks too. sshd reads its configuration, includes and all, once at start (and hands
 * it to each re-executed child), so copies taken now are what it would have read.
 */
async function includesWithEnv(dir: string, includes: readonly string[], env: Readonly<Record<string, string>>): Promise<string[]> {
  const pairs = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ");
  const out: string[] = [];
  const copies = join(dir, "includes");
  await mkdir(copies, { mode: 0o755 });
  for (const [i, pattern] of includes.entries()) {
    const name = basename(pattern);
    const files = name.includes("*")
      ? (await readdir(dirname(pattern)).catch(() => [] as string[]))
          .filter((f) => new RegExp(`^${name.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(f))
          .sort()
          .map((f) => join(dirname(pattern), f))
      : [pattern];
    for (const file of files) {
      const text = (await readFile(file, "utf8")).replace(/^(\s*SetEnv .*)$/gm, `$1 ${pairs}`);
      const copy = join(copies, `${String(i).padStart(3, "0")}-${basename(file)}`);
      await writeFile(copy, text, { mode: 0o644 });
      out.push(copy);
    }
  }
  return out;
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 }); // privilege separation directory
  const dir = await mkdtemp(join(tmpdir(), "signstar-sshd-"));
  try {
    const includes = opts.env && Object.keys(opts.env).length ? await includesWithEnv(dir, opts.includes ?? [], opts.env) : (opts.includes ?? []);
    const hostKey = join(dir, "ssh_host_ed25519_key");
    await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
    const hostPublicKey = (await readFile(`${hostKey}.pub`, "utf8")).trim().split(" ").slice(0, 2).join(" ");
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const configFile = join(dir, "sshd_config");
      const logFile = join(dir, "sshd.log");
      const pidFile = join(dir, "sshd.pid");
      const config = [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKey}`,
        `PidFile ${pidFile}`,
        "UsePAM no",
        "StrictModes no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "MaxStartups 200:30:400",
        "LogLevel VERBOSE",
        ...(opts.allowUsers?.length ? [`AllowUsers ${opts.allowUsers.join(" ")}`] : []),
        ...(opts.env && Object.keys(opts.env).length
          ? [`SetEnv ${Object.entries(opts.env).map(([k, v]) => `${k}=${v}`).join(" ")}`]
          : []),
        ...includes.map((p) => `Include ${p}`),
        opts.extraConfig ?? "",
      ].join("\n");
      await writeFile(configFile, `${config}\n`, { mode: 0o600 });
      await exec(SSHD_BIN, ["-t", "-f", configFile]);
      await writeFile(logFile, "");
      const child = spawn(SSHD_BIN, ["-D", "-f", configFile, "-E", logFile], { stdio: "ignore" });
      const deadline = Date.now() + 10_000;
      let up = false;
      while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) break;
        if (await probe(port)) {
          up = true;
          break;
        }
        await sleep(50);
      }
      if (!up) {
        child.kill("SIGKILL");
        await waitExit(child, 2000);
        const log = await readFile(logFile, "utf8").catch(() => "");
        if (/Address already in use/.test(log)) continue;
        throw new Error(`sshd did not start: ${log.trim().split("\n").slice(-3).join(" | ")}`);
      }
      const knownHosts = join(dir, "known_hosts");
      await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
      return {
        host: "127.0.0.1",
        port,
        dir,
        configFile,
        logFile,
        knownHosts,
        hostPublicKey,
        pid: child.pid ?? -1,
        log: () => readFile(logFile, "utf8"),
        stop: async () => {
          child.kill("SIGTERM");
          if (!(await waitExit(child, 5000))) {
            child.kill("SIGKILL");
            await waitExit(child, 2000);
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    throw new Error("sshd: no free port after 5 attempts");
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface SshResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunSshOptions {
  readonly sshd: Pick<Sshd, "host" | "port" | "knownHosts">;
  readonly user: string;
  readonly identity: string;
  /** Remote command words (sent as SSH_ORIGINAL_COMMAND; a ForceCommand ignores them). */
  readonly command?: readonly string[];
  /** Extra ssh options before the destination, e.g. ["-tt"] or ["-W", "127.0.0.1:22"]. */
  readonly sshArgs?: readonly string[];
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
}

/** OpenSSH `ssh` with exactly one key, BatchMode, the pinned known_hosts, no user config. */
export function runSsh(opts: RunSshOptions): Promise<SshResult> {
  const args = [
    "-F", "/dev/null",
    "-p", String(opts.sshd.port),
    "-i", opts.identity,
    "-o", "IdentitiesOnly=yes",
    "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${opts.sshd.knownHosts}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
    "-o", "LogLevel=ERROR",
    ...(opts.sshArgs ?? []),
    `${opts.user}@${opts.sshd.host}`,
    ...(opts.command ?? []),
  ];
  return run("ssh", args, { input: opts.input ?? "", timeoutMs: opts.timeoutMs ?? 30_000 });
}
