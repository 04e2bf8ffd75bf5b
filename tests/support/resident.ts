/**
 * Resident signers on a test signing host (tests/support/signing-host.ts), started as a host without systemd
 * would: the ForceCommand becomes the C forwarder (dist/bin/signstar-download-signature, a link, so that its
 * fallback finds dist/bin/signstar-download-signature.js next to its real path), each signing user gets its
 * directory below SIGNSTAR_ROOT's /run/signstar/signer (the user's, 0700, as tmpfiles.d makes it), and
 * signstar-signer runs as the user (setpriv, with the user's groups for the SoftHSM token).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chown, lstat, mkdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { hostLayout } from "../../lib/layout/host-layout.js";

/** What the helpers need of a test host (signing-host.ts, shares-host.ts). */
export interface ForwarderHost {
  /** Where the host's ForceCommand wrappers are. */
  readonly binDir: string;
  /** The sessions' environment (SIGNSTAR_ROOT, if any, decides where /run/signstar/signer is). */
  readonly env: Readonly<Record<string, string>>;
}
import { REPO_ROOT } from "./repo.js";
import { lookup } from "./users.js";
import { waitExit } from "./sshd.js";

export const FORWARDER = join(REPO_ROOT, "dist/bin/signstar-download-signature");

/** Makes signstar-download-signature of the host the forwarder, and every signing user's signer directory. */
export async function useForwarder(host: ForwarderHost & { readonly signers: Iterable<{ readonly user: string }> }): Promise<void> {
  const wrapper = join(host.binDir, "signstar-download-signature");
  await rm(wrapper, { force: true });
  await symlink(FORWARDER, wrapper);
  const layout = hostLayout(host.env["SIGNSTAR_ROOT"]);
  await mkdir(layout.signersDir, { recursive: true, mode: 0o755 });
  for (const s of [...host.signers]) {
    const entry = await lookup(s.user);
    if (!entry) throw new Error(`no user ${s.user}`);
    await mkdir(layout.signerDir(s.user), { recursive: true, mode: 0o700 });
    await chown(layout.signerDir(s.user), entry.uid, entry.gid);
  }
}

export interface Resident {
  readonly user: string;
  readonly child: ChildProcess;
  /** stderr so far. */
  readonly stderr: () => string;
  stop(): Promise<void>;
}

/** Starts signstar-signer as `user` and waits until its socket accepts connections. */
export async function startResident(host: ForwarderHost, user: string, env: Record<string, string> = {}): Promise<Resident> {
  const layout = hostLayout(host.env["SIGNSTAR_ROOT"]);
  const socket = layout.signerSocket(user);
  await rm(socket, { force: true });
  const child = spawn(
    "setpriv",
    ["--reuid", user, "--regid", user, "--init-groups", "--", process.execPath, join(REPO_ROOT, "dist/bin/signstar-signer.js")],
    { env: { PATH: "/usr/bin:/bin", ...host.env, SIGNSTAR_SIGNER_IDLE_SECONDS: "3600", ...env }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err += c.toString("utf8")));
  const deadline = Date.now() + 20_000;
  while (!(await lstat(socket).then((s) => s.isSocket(), () => false))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`signstar-signer for ${user} did not start: ${err}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    user,
    child,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        if (!(await waitExit(child, 10_000))) child.kill("SIGKILL");
      }
      await rm(socket, { force: true });
    },
  };
}

/** Removes the signer directories useForwarder made (on the live /run when the host has no SIGNSTAR_ROOT). */
export async function removeSignerDirs(host: ForwarderHost, users: Iterable<string>): Promise<void> {
  const layout = hostLayout(host.env["SIGNSTAR_ROOT"]);
  for (const user of users) await rm(layout.signerDir(user), { recursive: true, force: true });
}
