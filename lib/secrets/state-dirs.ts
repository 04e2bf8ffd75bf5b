/**
 * The per-user state directories, created and corrected by root without ever following a link a user planted.
 *
 *   /var/lib/signstar/home/                      root 0755  (anchor: must already be root-owned)
 *     <user>/                                    root 0755  the home: the user cannot rename or replace anything
 *       .local/ state/ signstar/                 root 0755
 *         secrets/                               root 0711  backend secrets (files: the user, 0600, made by root)
 *         shares/                                user 0700  share holders (their tool renames and marks files)
 *         uploads/                               user 0700  backup_upload / update_upload users
 *
 * Node has no openat/fchownat, so safety is structural: the walk goes top-down from a root-owned anchor and
 * looks at each component only once its parent is root-owned (checked or just corrected), so nobody but root
 * can swap the component between our lstat and the chown/chmod by path. A symbolic link or a non-directory on
 * the path is refused with a one-line error naming it; nothing below it is touched.
 */
import { chmod, chown, lstat, mkdir, stat } from "node:fs/promises";
import { hostLayout, type UserStateLeaf } from "../layout/host-layout.js";
import { SecretFileError } from "./errors.js";
import { errnoCode } from "../os/errno.js";

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** The leaf directories below `<home>/.local/state/signstar`. */
export type StateLeaf = UserStateLeaf;

export const PARENT_MODE = 0o755;
/** Owner and mode of each leaf ("user": the Unix user the directory belongs to). */
export const LEAF_LAYOUT: Readonly<Record<StateLeaf, { readonly owner: "root" | "user"; readonly mode: number }>> = {
  secrets: { owner: "root", mode: 0o711 },
  shares: { owner: "user", mode: 0o700 },
  uploads: { owner: "user", mode: 0o700 },
};

const ROOT: Owner = { uid: 0, gid: 0 };

/**
 * Root: makes `<home>/.local/state/signstar/<leaf>` exist with the layout above (every parent from the home down
 * root:root 0755) and returns its path. `<root>/var/lib/signstar/home` is created (0755) when missing and must be
 * a root-owned directory writable only by root.
 */
export async function ensureStateDirs(root: string | undefined, user: string, leaf: StateLeaf, owner: Owner): Promise<string> {
  const layout = hostLayout(root);
  await checkAnchor(layout.homeBase);
  for (const dir of layout.userStateChain(user)) await ensureOneDir(dir, ROOT, PARENT_MODE);
  const { owner: leafOwner, mode } = LEAF_LAYOUT[leaf];
  const leafDir = layout.userState(user, leaf);
  await ensureOneDir(leafDir, leafOwner === "root" ? ROOT : owner, mode);
  return leafDir;
}

/** Root: the home alone (root:root 0755), for hosts whose users have no state directories yet. */
export async function ensureHome(root: string | undefined, user: string): Promise<string> {
  const layout = hostLayout(root);
  await checkAnchor(layout.homeBase);
  const home = layout.home(user);
  await ensureOneDir(home, ROOT, PARENT_MODE);
  return home;
}

/**
 * `<root>/var/lib/signstar/home`: created (0755) when missing; it must resolve to a root-owned directory writable
 * only by root. (Its own path is root's: tests and image builds may make it a link, so it is followed.)
 */
async function checkAnchor(anchor: string): Promise<void> {
  await mkdir(anchor, { recursive: true, mode: PARENT_MODE });
  const st = await stat(anchor);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new SecretFileError(`state directory ${anchor} must be a root-owned directory writable only by root`, anchor);
  }
}

/**
 * One component whose parent is root-owned (the caller guarantees it): created if missing, refused when it is a
 * symbolic link or not a directory, owner and mode corrected by path otherwise.
 */
async function ensureOneDir(dir: string, owner: Owner, mode: number): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw new SecretFileError(`cannot inspect state directory ${dir}: ${errnoCode(error) ?? String(error)}`, dir);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (mkdirError) {
      if (errnoCode(mkdirError) !== "EEXIST") throw new SecretFileError(`cannot create state directory ${dir}: ${errnoCode(mkdirError) ?? String(mkdirError)}`, dir);
    }
    st = await lstat(dir);
  }
  if (st.isSymbolicLink()) throw new SecretFileError(`state directory ${dir} is a symbolic link, which is refused`, dir);
  if (!st.isDirectory()) throw new SecretFileError(`state directory ${dir} is not a directory`, dir);
  if (st.uid !== owner.uid || st.gid !== owner.gid) await chown(dir, owner.uid, owner.gid);
  if ((st.mode & 0o7777) !== mode) await chmod(dir, mode);
}
