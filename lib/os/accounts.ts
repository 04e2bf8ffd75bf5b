/**
 * Unix account lookups through NSS (`getent`), so local files and any other configured database agree; and the
 * account files of a staged tree (`accountsBelow`).
 */
import { userInfo } from "node:os";
import { join } from "node:path";
import { OsError } from "./errors.js";
import { FileReadError, readCheckedFile } from "./read-file.js";
import { formatCommand, run } from "./run.js";

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

async function getent(database: "passwd" | "shadow" | "group", key: string): Promise<string[] | undefined> {
  const argv = ["getent", database, key];
  const result = await run(argv, { timeoutMs: 10_000, maxOutput: 64 * 1024 });
  if (result.code === 2) return undefined; // key not found
  if (result.code !== 0) {
    throw new OsError(`${formatCommand(argv)} failed with status ${String(result.code)}: ${result.stderr.trim()}`);
  }
  const line = result.stdout.toString("utf8").split("\n")[0] ?? "";
  return line.split(":");
}

/** The passwd entry of `name`, or undefined when no such user exists. */
export async function lookupUser(name: string): Promise<PasswdEntry | undefined> {
  const f = await getent("passwd", name);
  if (f === undefined) return undefined;
  const [user, , uid, gid, , home, shell] = f;
  if (user !== name || uid === undefined || gid === undefined || home === undefined || shell === undefined) {
    throw new OsError(`unexpected passwd entry for user "${name}"`);
  }
  return { name: user, uid: Number(uid), gid: Number(gid), home, shell };
}

/** The user's password field from the shadow database (`*`, `!`, `!*`, a hash …), undefined if none. */
export async function lookupPasswordField(name: string): Promise<string | undefined> {
  const f = await getent("shadow", name);
  return f?.[1];
}

export async function groupExists(name: string): Promise<boolean> {
  return (await getent("group", name)) !== undefined;
}

/** The gid of a group, or undefined when it does not exist. */
export async function groupId(name: string): Promise<number | undefined> {
  const f = await getent("group", name);
  if (f === undefined) return undefined;
  const gid = Number(f[2]);
  if (f[0] !== name || !Number.isSafeInteger(gid)) throw new OsError(`unexpected group entry for group "${name}"`);
  return gid;
}

/**
 * Names of the groups that list `name` as a member (its supplementary groups from the group database, not its
 * primary group), sorted. `id -Gn` would add the primary group; the membership lists are what usermod edits.
 */
export async function supplementaryGroups(name: string): Promise<string[]> {
  const argv = ["getent", "group"];
  const result = await run(argv, { timeoutMs: 10_000, maxOutput: 4 * 1024 * 1024 });
  if (result.code !== 0) throw new OsError(`${formatCommand(argv)} failed with status ${String(result.code)}: ${result.stderr.trim()}`);
  const out: string[] = [];
  for (const line of result.stdout.toString("utf8").split("\n")) {
    const [group, , , members] = line.split(":");
    if (group && members !== undefined && members.split(",").includes(name)) out.push(group);
  }
  return [...new Set(out)].sort();
}

/** Like lookupUser, but a missing user is an error naming it. */
export async function requireUser(name: string): Promise<PasswdEntry> {
  const entry = await lookupUser(name);
  if (!entry) throw new OsError(`Unix user "${name}" does not exist`);
  return entry;
}

/** The effective user of this process (libuv reads the passwd entry of geteuid()). */
export function currentUser(): { readonly uid: number; readonly gid: number; readonly name: string } {
  const info = userInfo();
  return { uid: info.uid, gid: info.gid, name: info.username };
}

/** Where configure-build looks accounts up: the live system (NSS) or the files of a staged tree. */
export interface AccountDatabase {
  lookupUser(name: string): Promise<PasswdEntry | undefined>;
  lookupPasswordField(name: string): Promise<string | undefined>;
  groupExists(name: string): Promise<boolean>;
  supplementaryGroups(name: string): Promise<string[]>;
}

export const LIVE_ACCOUNTS: AccountDatabase = { lookupUser, lookupPasswordField, groupExists, supplementaryGroups };

/** The largest account file of a staged tree that is read. */
const MAX_ACCOUNT_FILE = 4 * 1024 * 1024;

/**
 * The account files of a tree staged below `root` (`<root>/etc/passwd`, `shadow`, `group`): what `useradd --prefix
 * root` reads and writes. Files only (no NSS): an image's accounts are its own files. A missing file is empty.
 */
export function accountsBelow(root: string): AccountDatabase {
  const lines = async (name: "passwd" | "shadow" | "group"): Promise<string[][]> => {
    let text: string;
    try {
      const file = await readCheckedFile(join(root, "etc", name), { what: `${name} file of ${root}`, maxBytes: MAX_ACCOUNT_FILE });
      text = file.data.toString("utf8");
    } catch (error) {
      if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") return [];
      throw error;
    }
    return text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => l.split(":"));
  };
  const find = async (name: "passwd" | "shadow" | "group", key: string): Promise<string[] | undefined> => (await lines(name)).find((f) => f[0] === key);
  return {
    async lookupUser(name) {
      const f = await find("passwd", name);
      if (f === undefined) return undefined;
      const [user, , uid, gid, , home, shell] = f;
      if (user !== name || uid === undefined || gid === undefined || home === undefined || shell === undefined) throw new OsError(`unexpected passwd entry for user "${name}" below ${root}`);
      return { name: user, uid: Number(uid), gid: Number(gid), home, shell };
    },
    async lookupPasswordField(name) {
      return (await find("shadow", name))?.[1];
    },
    async groupExists(name) {
      return (await find("group", name)) !== undefined;
    },
    async supplementaryGroups(name) {
      const groups = (await lines("group")).filter((f) => f[3] !== undefined && f[3].split(",").includes(name)).map((f) => f[0]!);
      return [...new Set(groups)].sort();
    },
  };
}
