/**
 * Signstar in a booted systemd (./booted-systemd.ts), as the tests of the shipped units drive it: installed as the
 * package installs it, the operator's commands run inside, and the installed client signing over the booted
 * system's own sshd (port 22 of its private network).
 */
import { copyFile, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { BOOTED_CHECKOUT, type BootedSystemd } from "./booted-systemd.js";
import { CLIENT } from "./log-proof.js";
import { packageExecutables } from "./production-host.js";
import { REPO_ROOT } from "./repo.js";
import type { RunResult } from "./run.js";

/**
 * Installed as the package installs it (packaging/tree.mjs): executables in /usr/bin (links into the checkout as the
 * booted system sees it, outside any /tmp a unit's PrivateTmp= hides), units in /usr/lib/systemd/system.
 */
export async function installSignstar(sys: BootedSystemd): Promise<void> {
  for (const [name, file] of await packageExecutables()) {
    await rm(sys.path(join("/usr/bin", name)), { force: true });
    await symlink(join(BOOTED_CHECKOUT, relative(REPO_ROOT, file)), sys.path(join("/usr/bin", name)));
  }
  for (const unit of await readdir(join(REPO_ROOT, "systemd"))) await copyFile(join(REPO_ROOT, "systemd", unit), sys.path(join("/usr/lib/systemd/system", unit)));
}

/** An operator's command inside the booted system: exit 0 and nothing on stderr, else it throws with both. */
export async function operatorIn(sys: BootedSystemd, argv: readonly string[]): Promise<string> {
  const r = await sys.run(argv);
  if (r.code !== 0 || r.stderr !== "") throw new Error(`${argv.join(" ")}: exit ${r.code}, stderr: ${r.stderr}`);
  return r.stdout;
}

/** `systemctl show -p PROPERTY --value UNIT`. */
export async function unitProperty(sys: BootedSystemd, unit: string, property: string): Promise<string> {
  return (await sys.systemctl("show", "-p", property, "--value", unit)).trim();
}

/**
 * The installed client sends a fresh file `work`/`name` for signing as `user` (identity `work`/`user`, made by
 * generateSshKey) over the booted system's sshd, whose host key is pinned; the signature would be `work`/`name`.sig.
 */
export async function sendInside(sys: BootedSystemd, opts: { readonly work: string; readonly user: string; readonly name: string }): Promise<RunResult> {
  const hostKey = (await readFile(sys.path("/etc/ssh/ssh_host_ed25519_key.pub"), "utf8")).trim().split(" ").slice(0, 2).join(" ");
  await writeFile(sys.path(`${opts.work}/known_hosts`), `127.0.0.1 ${hostKey}\n`);
  await writeFile(sys.path(`${opts.work}/${opts.name}`), `${opts.name} ${Date.now()}\n`);
  return sys.run([process.execPath, CLIENT, "send", "--host", "127.0.0.1", "--port", "22", "--user", opts.user, "--identity", `${opts.work}/${opts.user}`, "--known-hosts", `${opts.work}/known_hosts`, `${opts.work}/${opts.name}`]);
}
