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
