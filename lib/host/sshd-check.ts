/**
 * `sshd -t` on a set of drop-ins, in a scratch directory with a throw-away host key.
 *
 * Why unprivileged: run as root, sshd -t (and -T) refuses to start without its privilege-separation directory
 * (`Missing privilege separation directory: /run/sshd`), which sshd's own unit creates (`RuntimeDirectory=sshd`)
 * only when the service starts. An image build (mkosi's postinst chroot), a container without systemd and a fresh
 * boot before sshd ran all have an empty /run. sshd checks that directory only when it runs as root, so the
 * validation runs as `nobody` (uid/gid 65534, no supplementary groups) on files it owns: the configuration is
 * parsed exactly as the daemon parses it, nothing is created outside the scratch directory, and --root and
 * --dry-run (which must not touch the host) validate the same way.
 */
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../errors.js";
import { HostError } from "./errors.js";
import { run, type RunOptions } from "../os/run.js";

export const SSHD = "/usr/sbin/sshd";
/** The overflow uid/gid ("nobody"/"nogroup" on Debian): exists without a passwd entry, owns nothing. */
export const VALIDATION_ID = 65534;

/** Run as this (uid, gid) when root: sshd then skips its privilege-separation checks. */
function unprivileged(): Pick<RunOptions, "uid" | "gid"> {
  return process.geteuid?.() === 0 ? { uid: VALIDATION_ID, gid: VALIDATION_ID } : {};
}

/**
 * `sshd <args>` for checking configurations (-t, -T), never for serving: unprivileged when called as root (see
 * above), so the files it reads must be readable by VALIDATION_ID.
 */
export function runSshdCheck(args: readonly string[]): ReturnType<typeof run> {
  return run([SSHD, ...args], { timeoutMs: 15_000, ...unprivileged() });
}

/**
 * Validates `includes` (glob patterns or files, e.g. `<dir>/*.conf`) by running `sshd -t` on a config that
 * includes them. With `contents`, the texts are written to the scratch dir first and included instead.
 */
export async function checkSshdConfig(opts: { includes?: readonly string[]; contents?: readonly { name: string; text: string }[] }): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "signstar-sshd-check-"));
  try {
    const ids = unprivileged();
    const includes = [...(opts.includes ?? [])];
    const owned: string[] = [dir];
    for (const [i, c] of (opts.contents ?? []).entries()) {
      const file = join(dir, `${String(i).padStart(3, "0")}-${c.name.replace(/[^A-Za-z0-9._-]/g, "_")}`);
      await writeFile(file, c.text, { mode: 0o600 });
      includes.push(file);
      owned.push(file);
    }
    const hostKey = join(dir, "host_ed25519");
    const keygen = await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey], { timeoutMs: 15_000 });
    if (keygen.code !== 0) throw new HostError(`ssh-keygen failed: ${keygen.stderr.trim()}`);
    const config = join(dir, "sshd_config");
    await writeFile(config, `${includes.map((p) => `Include ${p}\n`).join("")}HostKey ${hostKey}\nPidFile ${join(dir, "pid")}\n`, { mode: 0o600 });
    owned.push(hostKey, `${hostKey}.pub`, config);
    if (ids.uid !== undefined) for (const path of owned) await chown(path, ids.uid, ids.gid ?? ids.uid);
    const result = await runSshdCheck(["-t", "-f", config]);
    if (result.code !== 0) {
      throw new HostError(`sshd -t rejects the generated configuration: ${result.stderr.trim().split("\n").slice(0, 3).join("; ")}`, ExitCode.Config);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Client environment variables sshd would pass to `user`'s ForceCommand unpinned: `sshd -T -C user=…` (the live
 * configuration, evaluated for that user as sshd evaluates it) lists `acceptenv` patterns and the effective
 * `setenv`. LANG and LC_* are harmless once the session's own SetEnv pins LANG and LC_ALL (./render.ts
 * PINNED_ENV); any other accepted pattern, or all of them when the pin is not in effect, is returned.
 */
export async function unpinnedClientEnv(user: string, pinned: readonly (readonly [string, string])[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "signstar-sshd-env-"));
  try {
    const ids = unprivileged();
    const hostKey = join(dir, "host_ed25519");
    const keygen = await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey], { timeoutMs: 15_000 });
    if (keygen.code !== 0) throw new HostError(`ssh-keygen failed: ${keygen.stderr.trim()}`);
    if (ids.uid !== undefined) for (const path of [dir, hostKey, `${hostKey}.pub`]) await chown(path, ids.uid, ids.gid ?? ids.uid);
    // A readable host key, so that sshd -T gets past loading keys when it cannot read the host's own.
    const result = await runSshdCheck(["-T", "-C", `user=${user},host=localhost,addr=127.0.0.1`, "-o", `HostKey=${hostKey}`]);
    if (result.code !== 0) throw new HostError(`sshd -T -C user=${user} failed: ${result.stderr.trim().split("\n")[0] ?? ""}`, ExitCode.Config);
    const accepted: string[] = [];
    const set = new Map<string, string>();
    for (const line of result.stdout.toString("utf8").split("\n")) {
      const [keyword, ...rest] = line.trim().split(/\s+/);
      if (keyword === "acceptenv") accepted.push(...rest);
      if (keyword === "setenv") {
        for (const pair of rest) {
          const eq = pair.indexOf("=");
          if (eq > 0) set.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
      }
    }
    const inForce = pinned.every(([k, v]) => set.get(k) === v);
    return accepted.filter((pattern) => !inForce || !(pattern === "LANG" || /^LC_[A-Za-z0-9_*?]*$/.test(pattern)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
