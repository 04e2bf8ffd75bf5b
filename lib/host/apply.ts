/** Carries out host actions in order: accounts, homes, files, stale-file removal. */
import { chmod, chown, lstat, mkdir, rename, symlink, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { ensureCountersDir } from "../metrics/signature-counters.js";
import { ensureHome, ensureStateDirs } from "../secrets/state-dirs.js";
import { hostLayout } from "../layout/host-layout.js";
import { writeFileAtomic, syncDirectory } from "../os/atomic-file.js";
import { accountsBelow, requireUser } from "../os/accounts.js";
import type { HostAction } from "./actions.js";
import { SHARE_UPLOAD_DIR_MODE, SIGNER_DIR_MODE } from "./render.js";
import { ensureDir } from "../os/fs.js";
import { HostError } from "./errors.js";
import { formatCommand, run } from "../os/run.js";
import { errnoCode } from "../os/errno.js";

async function runChecked(argv: readonly string[]): Promise<void> {
  const result = await run(argv, { timeoutMs: 60_000 });
  if (result.code !== 0) {
    throw new HostError(`The command exited with non-zero status ${String(result.code)} (${formatCommand(argv)}): ${result.stderr.trim().split("\n")[0] ?? ""}`);
  }
}

/** A symbolic link at `path` to `target`, replacing what is there in one rename. */
async function replaceWithLink(path: string, target: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await unlink(temp).catch(() => undefined);
  await symlink(target, temp);
  await rename(temp, path);
  await syncDirectory(dirname(path));
}

/**
 * The user's resident signer directory below /run (tmpfiles.d makes it at boot; this covers the running host):
 * its parent root 0755, itself the user's 0700, never through a link.
 */
async function ensureSignerDir(path: string, owner: { readonly uid: number; readonly gid: number }): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await mkdir(path, { mode: SIGNER_DIR_MODE }).catch((error: unknown) => {
    if (errnoCode(error) !== "EEXIST") throw error;
  });
  const st = await lstat(path);
  if (!st.isDirectory()) throw new HostError(`${path} exists but is not a directory`);
  await chown(path, owner.uid, owner.gid);
  await chmod(path, SIGNER_DIR_MODE);
}

/** A user's ids from the live database, or from the staged tree's account files below `accountsRoot`. */
async function ownerOf(name: string, accountsRoot: string): Promise<{ readonly uid: number; readonly gid: number }> {
  if (!accountsRoot) return requireUser(name);
  const user = await accountsBelow(accountsRoot).lookupUser(name);
  if (user === undefined) throw new HostError(`Unix user "${name}" does not exist in ${accountsRoot}/etc/passwd`);
  return user;
}

export async function applyAction(action: HostAction): Promise<void> {
  switch (action.kind) {
    case "create-group":
    case "create-user":
    case "update-user":
      for (const argv of action.commands) await runChecked(argv);
      return;
    case "ensure-home": {
      // Top-down and refusing links (lib/secrets/state-dirs.ts): the home and .local/state/signstar are
      // root:root 0755, then the leaves of the role (what the user's tmpfiles.d entry also creates at boot).
      const user = await ownerOf(action.user, action.accountsRoot);
      const root = action.root || "/";
      const home = hostLayout(root).home(action.user);
      if (action.path !== home) throw new HostError(`home ${action.path} of user "${action.user}" is not ${home}`);
      await ensureHome(root, action.user);
      const leaves = (["secrets", "shares", "uploads"] as const).filter((leaf) => action.stateDirs[leaf]);
      for (const leaf of leaves) await ensureStateDirs(root, action.user, leaf, user);
      const layout = hostLayout(root);
      if (action.stateDirs.counters) await ensureCountersDir(layout.signatureCounters(action.user), user);
      if (action.stateDirs.signer) await ensureSignerDir(layout.signerDir(action.user), user);
      if (action.stateDirs.shareUpload) {
        await ensureDir(layout.shareUploadsDir, 0o755);
        await ensureDir(layout.shareUploadDir(action.user), SHARE_UPLOAD_DIR_MODE, user.uid, user.gid);
      }
      return;
    }
    case "ensure-dir": {
      // Below root-owned parents (/var/lib/signstar, /run/signstar), never through a link (lib/os/fs.ts ensureDir).
      const owner = await ownerOf(action.owner, action.accountsRoot);
      await ensureDir(action.path, action.mode, owner.uid, owner.gid);
      return;
    }
    case "write-file":
      await mkdir(dirname(action.file.path), { recursive: true, mode: 0o755 });
      if (action.file.linkTarget !== undefined) await replaceWithLink(action.file.path, action.file.linkTarget);
      else await writeFileAtomic(action.file.path, action.file.content, { mode: action.file.mode });
      return;
    case "remove-file":
      try {
        await unlink(action.path);
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error;
      }
      await syncDirectory(dirname(action.path));
      return;
  }
}
