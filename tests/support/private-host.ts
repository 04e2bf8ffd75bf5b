/**
 * A private view of this machine, for tests that run the production commands live (`signstar-configure-build`
 * without --root, `signstar-configure`, sshd with its default paths) exactly as an operator runs them on a host.
 *
 * It is a mount namespace in which /etc, /usr and /var are copy-on-write overlays of this machine's own
 * directories and /run is a fresh tmpfs, as after a boot (only lock/, user/, log/ and shm/ exist, like
 * `../shared/tools/ci-fresh`). Users added there (useradd writes the overlay's /etc/passwd), files below /etc/ssh,
 * /usr/lib/tmpfiles.d or /var/lib/signstar, sockets in /run: everything stays inside the namespace and vanishes
 * with it. /dev is a small tmpfs of its own (the usual nodes, bound from this machine) whose /dev/log leads to
 * `JOURNAL_SOCKET`: nothing listens there until a test calls `startJournal` (tests/support/syslog.ts). Nothing depends on, or leaves, state on the machine itself.
 *
 * Each private host gets its own range of system uids (its /etc/login.defs), so that users of two private hosts
 * running at the same time (vitest runs test files in parallel) never share a kernel uid.
 *
 * The test process itself stays outside: `run`/`spawn` start commands inside (nsenter), `path(p)` is where a
 * path of the private host is seen from outside (/proc/<holder>/root/p).
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, type RunOptions, type RunResult } from "./run.js";

/** The device nodes a host without hardware needs (shells, sshd, OpenSSL, Node). */
const DEVICES = ["null", "zero", "full", "random", "urandom", "tty"] as const;

/** Where /dev/log points on the private host, as on a systemd host; `startJournal` listens there. */
export const JOURNAL_SOCKET = "/run/systemd/journal/dev-log";

/** Directories overlaid copy-on-write. */
const OVERLAID = ["/etc", "/usr", "/var"] as const;

export interface PrivateHost {
  /** PID of the process that holds the namespace. */
  readonly pid: number;
  /** `p` (an absolute path on the private host) as seen from the test process. */
  path(p: string): string;
  /** Runs argv inside the private host to completion. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts argv inside the private host (e.g. sshd -D). */
  spawn(argv: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Kills every process of the namespace and removes the overlays' upper layers. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The mount namespace of a process, e.g. `mnt:[4026532291]`, or undefined when it is gone. */
const mountNamespace = (pid: number | string): Promise<string | undefined> => readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);

export async function startPrivateHost(): Promise<PrivateHost> {
  const dir = await mkdtemp(join(tmpdir(), "signstar-private-host-"));
  const mounts: string[] = [];
  for (const target of OVERLAID) {
    const name = target.slice(1);
    await mkdir(join(dir, `${name}-upper`));
    await mkdir(join(dir, `${name}-work`));
    // /etc's lower layer is a snapshot, not the live directory: a test on this machine that runs useradd while a
    // private host exists would otherwise show its /etc/group.lock inside, and the private host's groupadd would
    // fail with "lock … already used". Lock files of the moment are left out of the snapshot.
    const lower = target === "/etc" ? `${dir}/etc-lower` : target;
    if (target === "/etc") mounts.push(`cp -a /etc ${lower} && rm -f ${lower}/*.lock ${lower}/.pwd.lock`);
    mounts.push(`mount -t overlay overlay -o lowerdir=${lower},upperdir=${dir}/${name}-upper,workdir=${dir}/${name}-work ${target}`);
  }
  // A block of 400 system uids/gids of its own, between 20000 and 59999.
  const base = 20000 + Math.floor(Math.random() * 100) * 400;
  const script = [
    "set -e",
    ...mounts,
    "mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run",
    "mkdir -p /run/lock /run/user /run/log && mkdir -m 1777 /run/shm",
    // A /dev of its own, so that /dev/log is the private host's (a symlink into /run, as systemd-journald's
    // socket unit makes it) and never this machine's: audit entries of a production-flow test stay inside.
    `mkdir ${dir}/dev-outside && mount --bind /dev ${dir}/dev-outside`,
    "mount -t tmpfs -o mode=0755,nosuid tmpfs /dev",
    `for n in ${DEVICES.join(" ")}; do touch /dev/$n && mount --bind ${dir}/dev-outside/$n /dev/$n; done`,
    `mkdir /dev/pts && mount --bind ${dir}/dev-outside/pts /dev/pts && ln -s pts/ptmx /dev/ptmx`,
    `mkdir -m 1777 /dev/shm && ln -s /proc/self/fd /dev/fd && ln -s /proc/self/fd/0 /dev/stdin && ln -s /proc/self/fd/1 /dev/stdout && ln -s /proc/self/fd/2 /dev/stderr`,
    `umount ${dir}/dev-outside`,
    `ln -s ${JOURNAL_SOCKET} /dev/log`,
    `sed -i -e '/^SYS_[UG]ID_M[AI][XN]/d' /etc/login.defs`,
    `printf 'SYS_UID_MIN %d\\nSYS_UID_MAX %d\\nSYS_GID_MIN %d\\nSYS_GID_MAX %d\\n' ${base} ${base + 399} ${base} ${base + 399} >> /etc/login.defs`,
    "echo ready",
    "exec sleep 2147483647",
  ].join("\n");
  const holder = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  holder.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const ready = await new Promise<boolean>((resolve) => {
    holder.stdout?.on("data", (d: Buffer) => d.toString().includes("ready") && resolve(true));
    holder.on("exit", () => resolve(false));
    holder.on("error", () => resolve(false));
  });
  if (!ready || holder.pid === undefined) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`private host: the namespace could not be set up: ${stderr.trim()}`);
  }
  const pid = holder.pid;
  const enter = (argv: readonly string[]): string[] => ["--target", String(pid), "--mount", "--", ...argv];

  return {
    pid,
    path: (p) => join(`/proc/${pid}/root`, p),
    run: (argv, opts = {}) => run("nsenter", enter(argv), opts),
    spawn: (argv, opts = {}) => spawn("nsenter", enter(argv), opts),
    async stop() {
      const ns = await mountNamespace(pid);
      if (ns !== undefined) {
        // Everything started inside (sshd, its sessions, resident signers) shares the holder's namespace.
        for (let round = 0; round < 20; round++) {
          const members: number[] = [];
          for (const entry of await readdir("/proc")) {
            if (/^\d+$/.test(entry) && Number(entry) !== pid && (await mountNamespace(entry)) === ns) members.push(Number(entry));
          }
          if (members.length === 0) break;
          for (const member of members) {
            try {
              process.kill(member, "SIGKILL");
            } catch {
              // already gone
            }
          }
          await sleep(50);
        }
      }
      holder.kill("SIGKILL");
      await new Promise<void>((resolve) => (holder.exitCode !== null || holder.signalCode !== null ? resolve() : holder.once("exit", () => resolve())));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A file of the private host as text (undefined when missing). */
export function readPrivate(host: PrivateHost, p: string): Promise<string | undefined> {
  return readFile(host.path(p), "utf8").catch(() => undefined);
}
