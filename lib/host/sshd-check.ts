/** `sshd -t` on a set of drop-ins, in a scratch directory with a throw-away host key. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../errors.js";
import { HostError } from "./errors.js";
import { run } from "./run.js";

export const SSHD = "/usr/sbin/sshd";

/**
 * Validates `includes` (glob patterns or files, e.g. `<dir>/*.conf`) by running `sshd -t` on a config that
 * includes them. With `contents`, the texts are written to the scratch dir first and included instead.
 */
export async function checkSshdConfig(opts: { includes?: readonly string[]; contents?: readonly { name: string; text: string }[] }): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "signstar-sshd-check-"));
  try {
    const includes = [...(opts.includes ?? [])];
    for (const [i, c] of (opts.contents ?? []).entries()) {
      const file = join(dir, `${String(i).padStart(3, "0")}-${c.name.replace(/[^A-Za-z0-9._-]/g, "_")}`);
      await writeFile(file, c.text, { mode: 0o600 });
      includes.push(file);
    }
    const hostKey = join(dir, "host_ed25519");
    const keygen = await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey], { timeoutMs: 15_000 });
    if (keygen.code !== 0) throw new HostError(`ssh-keygen failed: ${keygen.stderr.trim()}`);
    const config = join(dir, "sshd_config");
    await writeFile(config, `${includes.map((p) => `Include ${p}\n`).join("")}HostKey ${hostKey}\nPidFile ${join(dir, "pid")}\n`, { mode: 0o600 });
    const result = await run([SSHD, "-t", "-f", config], { timeoutMs: 15_000 });
    if (result.code !== 0) {
      throw new HostError(`sshd -t rejects the generated configuration: ${result.stderr.trim().split("\n").slice(0, 3).join("; ")}`, ExitCode.Config);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
