/** Reads what exists now: managed files, Unix accounts, homes. */
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { LIVE_ACCOUNTS, type AccountDatabase, type PasswdEntry } from "../os/accounts.js";
import type { HostPlan } from "./plan.js";
import { errnoCode } from "../os/errno.js";

/** Generated files are small; anything larger is simply "different". */
const MAX_MANAGED_FILE = 256 * 1024;

export interface ObservedNode {
  readonly path: string;
  readonly type: "missing" | "file" | "directory" | "link" | "other";
  /** A symbolic link's target. */
  readonly target?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly content?: string;
}

export interface ObservedUser {
  readonly name: string;
  readonly passwd: PasswdEntry | undefined;
  /** Shadow password field (`*`, `!`, a hash …). */
  readonly password: string | undefined;
  readonly groupExists: boolean;
  /** Supplementary groups (membership lists of the group database). */
  readonly groups: readonly string[];
}

export interface ObservedHost {
  readonly files: ReadonlyMap<string, ObservedNode>;
  /** Managed-pattern files present on disk that the plan does not contain, with the user they were for. */
  readonly stale: readonly { readonly path: string; readonly user: string }[];
  /** The plan's retired files that are present (any type but a directory), with why they go. */
  readonly retired: readonly { readonly path: string; readonly why: string }[];
  /** Only filled when user accounts are managed. */
  readonly users: ReadonlyMap<string, ObservedUser>;
  readonly homes: ReadonlyMap<string, ObservedNode>;
  /** Whether each planned group exists (only filled when user accounts are managed). */
  readonly groups: ReadonlyMap<string, boolean>;
  /** The log writer's account and directories (with a planned log writer, when user accounts are managed). */
  readonly logWriter?: {
    readonly passwd: PasswdEntry | undefined;
    /** Its supplementary groups (empty without an account). */
    readonly groups?: readonly string[];
    readonly groupExists: boolean;
    readonly dirs: ReadonlyMap<string, ObservedNode>;
  };
}

export async function observeNode(path: string, withContent: boolean): Promise<ObservedNode> {
  let st;
  try {
    st = await lstat(path);
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return { path, type: "missing" };
    throw error;
  }
  const base = { path, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  if (st.isDirectory()) return { ...base, type: "directory" };
  if (st.isSymbolicLink()) return { ...base, type: "link", target: await readlink(path) };
  if (!st.isFile()) return { ...base, type: "other" };
  const content = withContent && st.size <= MAX_MANAGED_FILE ? await readFile(path, "utf8") : undefined;
  return { ...base, type: "file", ...(content !== undefined ? { content } : {}) };
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw error;
  }
}

/** `accounts`: the live system's, or the account files of the staged tree when configure-build manages those. */
export async function observeHost(plan: HostPlan, manageUsers: boolean, accounts: AccountDatabase = LIVE_ACCOUNTS): Promise<ObservedHost> {
  const files = new Map<string, ObservedNode>();
  for (const f of plan.files) files.set(f.path, await observeNode(f.path, true));

  const planned = new Set(plan.files.map((f) => f.path));
  const stale: { path: string; user: string }[] = [];
  for (const pattern of plan.managed) {
    for (const name of (await listDir(pattern.dir)).sort()) {
      if (!name.startsWith(pattern.prefix) || !name.endsWith(pattern.suffix)) continue;
      const path = join(pattern.dir, name);
      if (planned.has(path)) continue;
      stale.push({ path, user: name.slice(pattern.prefix.length, name.length - pattern.suffix.length) });
    }
  }

  const retired: { path: string; why: string }[] = [];
  for (const r of plan.retired) {
    const node = await observeNode(r.path, false);
    if (node.type !== "missing" && node.type !== "directory") retired.push(r);
  }

  const users = new Map<string, ObservedUser>();
  const homes = new Map<string, ObservedNode>();
  if (manageUsers) {
    for (const u of plan.users) {
      const passwd = await accounts.lookupUser(u.name);
      users.set(u.name, {
        name: u.name,
        passwd,
        password: passwd ? await accounts.lookupPasswordField(u.name) : undefined,
        groupExists: await accounts.groupExists(u.name),
        groups: passwd ? await accounts.supplementaryGroups(u.name) : [],
      });
      homes.set(u.name, await observeNode(u.stagedHome, false));
    }
    for (const u of plan.serviceUsers) {
      const passwd = await accounts.lookupUser(u.name);
      users.set(u.name, { name: u.name, passwd, password: undefined, groupExists: await accounts.groupExists(u.name), groups: passwd ? await accounts.supplementaryGroups(u.name) : [] });
    }
  }
  const groups = new Map<string, boolean>();
  if (manageUsers) for (const g of plan.groups) groups.set(g, await accounts.groupExists(g));
  let logWriter: ObservedHost["logWriter"];
  if (manageUsers && plan.logWriter !== undefined) {
    const dirs = new Map<string, ObservedNode>();
    for (const d of plan.logWriter.dirs) dirs.set(d.stagedPath, await observeNode(d.stagedPath, false));
    const passwd = await accounts.lookupUser(plan.logWriter.user);
    const groups = passwd !== undefined ? await accounts.supplementaryGroups(plan.logWriter.user) : [];
    logWriter = { passwd, groups, groupExists: await accounts.groupExists(plan.logWriter.user), dirs };
  }
  return { files, stale, retired, users, homes, groups, ...(logWriter !== undefined ? { logWriter } : {}) };
}
