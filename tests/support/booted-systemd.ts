/**
 * A booted systemd for tests of the units in systemd/: this machine's own Debian booted as a container by
 * `systemd-nspawn --boot`, with systemd as PID 1 of the container up to multi-user.target and `systemctl` talking to it.
 *
 * This machine has no systemd PID 1 (see docs/tlog.md), and nspawn refuses to boot `/` itself ("Spawning container
 * on root directory is not supported"; `--volatile=yes` keeps only /usr and boots into systemd-firstboot). So the
 * container's root is a copy-on-write overlay of `/` (upper layer on a tmpfs): the installed packages, /etc with its
 * users, sshd host keys and SoftHSM configuration, and the checkout (whose executables production tests link into
 * /usr/bin) are all there; whatever the container writes stays in the tmpfs and vanishes with it.
 *
 * Isolation from this machine and from other tests running at the same time:
 * - the holder (`unshare --mount`) mounts the tmpfs and the overlay in a mount namespace of its own, with a tmpfs on
 *   /run for nspawn's own state, so nothing is mounted or left on the machine;
 * - `--private-network`: the container's services (its sshd on port 22 …) listen in a network namespace of its own;
 * - the holder moves itself into cgroups of its own (name=systemd and the unified hierarchy), below which nspawn
 *   puts the container's `payload`/`supervisor` cgroups; they are removed on stop;
 * - whiteouts in the overlay's /etc hide the machine's passwd/group lock files (a concurrent useradd on the machine
 *   would otherwise make the container's useradd fail with "lock … already used");
 * - its own range of system uids (/etc/login.defs), like tests/support/private-host.ts, so users made inside never
 *   share a kernel uid with users of a private host running at the same time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./repo.js";
import { run, type RunOptions, type RunResult } from "./run.js";

/** Where nspawn puts the container's cgroups below the holder's (one per hierarchy systemd uses here). */
const CGROUP_HIERARCHIES = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"] as const;
/** Lock files of shadow's tools (useradd, groupadd) hidden from the container's /etc. */
const ETC_LOCKS = ["passwd.lock", "group.lock", "shadow.lock", "gshadow.lock", ".pwd.lock", "subuid.lock", "subgid.lock"] as const;
const PATH_ENV = "/usr/sbin:/usr/bin:/sbin:/bin";

/** Where the booted system sees this checkout outside any /tmp (bound in read-only; see bootSystemd). */
export const BOOTED_CHECKOUT = "/usr/local/lib/signstar-test-checkout";

export interface BootedSystemd {
  /** Host PID of the container's PID 1 (systemd). */
  readonly leader: number;
  /** Milliseconds from starting nspawn until `systemctl is-system-running --wait` returned. */
  readonly bootMs: number;
  /** `p` (an absolute path inside the container) as seen from the test process. */
  path(p: string): string;
  /** Runs argv inside the container (all its namespaces) to completion, as root, with a plain PATH. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** `systemctl …` inside; anything but exit 0 throws with its output. */
  systemctl(...args: string[]): Promise<string>;
  /** Powers the container off (SIGKILL to its PID 1 when that takes over 30 s) and removes everything it made. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The children of a process (Linux /proc/<pid>/task/<tid>/children). */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, "utf8").catch(() => "");
    out.push(...text.split(" ").filter((s) => s !== "").map(Number));
  }
  return out;
}

/** Removes a cgroup directory and everything below it, depth first (cgroupfs has rmdir only). */
async function removeCgroup(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (entries === undefined) return;
  for (const e of entries) if (e.isDirectory()) await removeCgroup(join(dir, e.name));
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      await sleep(100);
    }
  }
}

export async function bootSystemd(opts: { readonly timeoutMs?: number } = {}): Promise<BootedSystemd> {
  const dir = await mkdtemp(join(tmpdir(), "signstar-booted-"));
  const name = `signstar-${dir.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, "x")}`;
  const cgroups = CGROUP_HIERARCHIES.map((h) => join(h, name));
  const root = `${dir}/root`;
  // A block of 400 system uids/gids of its own, between 20000 and 59999, drawn as a private host draws its block.
  const base = 20000 + Math.floor(Math.random() * 100) * 400;
  const script = [
    "set -e",
    ...cgroups.map((c) => `mkdir ${c} && echo $$ > ${c}/cgroup.procs`),
    `mount -t tmpfs -o mode=0700 tmpfs ${dir}`,
    `mkdir -p ${dir}/upper/etc ${dir}/work ${root}`,
    // A whiteout (character device 0/0) hides the lower file of that name, even one made later.
    ...ETC_LOCKS.map((f) => `mknod ${dir}/upper/etc/${f} c 0 0`),
    `mount -t overlay overlay -o lowerdir=/,upperdir=${dir}/upper,workdir=${dir}/work ${root}`,
    `sed -i -e '/^SYS_[UG]ID_M[AI][XN]/d' ${root}/etc/login.defs`,
    `printf 'SYS_UID_MIN %d\\nSYS_UID_MAX %d\\nSYS_GID_MIN %d\\nSYS_GID_MAX %d\\n' ${base} ${base + 399} ${base} ${base + 399} >> ${root}/etc/login.defs`,
    // nspawn keeps its locks and mount propagation directory below /run/systemd/nspawn: a tmpfs of the holder's own.
    "mount -t tmpfs -o mode=0755 tmpfs /run",
    // nspawn mounts a fresh tmpfs on the container's /tmp, and units with PrivateTmp= get one of their own: a checkout
    // below /tmp (CI's clean clone) would vanish from both. The checkout is bound in read-only at its own path (for
    // what runs outside a sandbox) and at BOOTED_CHECKOUT, which the installed executables link to.
    `exec systemd-nspawn --quiet --directory=${root} --machine=${name} --register=no --keep-unit --private-network --console=pipe --bind-ro=${REPO_ROOT} --bind-ro=${REPO_ROOT}:${BOOTED_CHECKOUT} --boot`,
  ].join("\n");
  const started = Date.now();
  const holder = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: PATH_ENV, LANG: "C.UTF-8" },
  });
  let output = "";
  const keep = (d: Buffer): void => void (output = (output + d.toString()).slice(-4000));
  holder.stdout?.on("data", keep);
  holder.stderr?.on("data", keep);

  let leader: number | undefined;
  const cleanup = async (): Promise<void> => {
    if (!exited(holder) && leader !== undefined) {
      // systemd as PID 1 of a container powers off on SIGRTMIN+4; nspawn exits when it has.
      await run("nsenter", ["--target", String(leader), "--all", "--", "systemctl", "poweroff", "--no-block"], { env: { PATH: PATH_ENV }, timeoutMs: 10_000 }).catch(() => undefined);
      if (!(await waitExit(holder, 30_000))) {
        try {
          process.kill(leader, "SIGKILL"); // ends every process of the container's PID namespace
        } catch {
          // already gone
        }
      }
    }
    if (!exited(holder)) holder.kill("SIGKILL");
    await waitExit(holder, 10_000);
    for (const c of cgroups) await removeCgroup(c);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const deadline = started + (opts.timeoutMs ?? 120_000);
    // The container's PID 1 is nspawn's (the holder's, after exec) child running systemd.
    while (leader === undefined) {
      if (exited(holder)) throw new Error(`systemd-nspawn exited ${String(holder.exitCode ?? holder.signalCode)}: ${output.trim()}`);
      if (Date.now() > deadline) throw new Error(`no container PID 1 within the timeout: ${output.trim()}`);
      for (const child of holder.pid === undefined ? [] : await childrenOf(holder.pid)) {
        if ((await readFile(`/proc/${child}/comm`, "utf8").catch(() => "")).trim() === "systemd") leader = child;
      }
      if (leader === undefined) await sleep(50);
    }
    const pid = leader;
    const enter = (argv: readonly string[]): string[] => ["--target", String(pid), "--all", "--", ...argv];
    // Until the manager inside has its private socket, systemctl fails at once: retry until it waits for the boot.
    let state = "";
    for (;;) {
      const r = await run("nsenter", enter(["systemctl", "is-system-running", "--wait"]), { env: { PATH: PATH_ENV }, timeoutMs: Math.max(1000, deadline - Date.now()) });
      state = r.stdout.trim();
      if (state === "running" || state === "degraded") break;
      if (exited(holder) || Date.now() > deadline) throw new Error(`the container did not boot (state "${state}", ${r.stderr.trim()}): ${output.trim()}`);
      await sleep(100);
    }
    const bootMs = Date.now() - started;
    const runInside = (argv: readonly string[], o: RunOptions = {}): Promise<RunResult> =>
      run("nsenter", enter(argv), { timeoutMs: 120_000, ...o, env: o.env ?? { PATH: PATH_ENV, LANG: "C.UTF-8" } });
    return {
      leader: pid,
      bootMs,
      path: (p) => join(`/proc/${pid}/root`, p),
      run: runInside,
      async systemctl(...args) {
        const r = await runInside(["systemctl", ...args]);
        if (r.code !== 0) throw new Error(`systemctl ${args.join(" ")}: exit ${r.code}: ${r.stdout}${r.stderr}`);
        return r.stdout;
      },
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
