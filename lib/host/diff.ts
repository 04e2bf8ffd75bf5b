/** From plan + observed state to the list of actions (pure). */
import { ExitCode } from "../errors.js";
import type { HostAction } from "./actions.js";
import { HostError } from "./errors.js";
import type { ObservedHost, ObservedNode } from "./observe.js";
import { LOG_WRITER_SOCKET_UNIT, type HostPlan, type PlannedLogWriter, type PlannedServiceUser, type PlannedUser } from "./plan.js";
import { LOG_WRITER_USER } from "../config/model.js";
import { formatCommand } from "../os/run.js";
import { TOKEN_GROUP_PREFIX } from "../config/token-access.js";

export interface DiffOptions {
  /** Create/update Unix accounts and homes (live system); otherwise they are only reported. */
  readonly manageUsers: boolean;
  /** Owner every managed file must have (root when running as root); undefined: not checked. */
  readonly fileOwner?: { readonly uid: number; readonly gid: number };
  /**
   * The accounts managed are the account files of the tree staged below this root: the commands get
   * `--prefix ROOT` (shadow-utils: they edit ROOT/etc/passwd … and read ROOT/etc/login.defs, without chroot), so
   * passwd gets the target's home. "" or absent: the live system's accounts.
   */
  readonly accountsRoot?: string;
}

export interface HostChanges {
  readonly actions: readonly HostAction[];
  /** Things to tell the operator that are not changes (accounts kept, accounts left to the target system). */
  readonly notes: readonly string[];
}

/** The password field that makes an account usable for key authentication only (not "locked" for sshd). */
export const NO_PASSWORD = "*";

/** `--prefix ROOT` for shadow-utils commands on a staged tree's account files. */
const prefixArgs = (accountsRoot: string | undefined): string[] => (accountsRoot ? ["--prefix", accountsRoot] : []);

/** A system account with its own group and no home made; `password` locks it (service users have none set). */
function systemUseraddCommand(u: { readonly name: string; readonly groups: readonly string[]; readonly home: string; readonly shell: string }, groupExists: boolean, accountsRoot: string | undefined, password: readonly string[]): string[] {
  return [
    "useradd",
    ...prefixArgs(accountsRoot),
    "--system",
    ...(groupExists ? ["--gid", u.name] : ["--user-group"]),
    ...(u.groups.length > 0 ? ["--groups", u.groups.join(",")] : []),
    "--no-create-home",
    "--home-dir",
    u.home,
    "--shell",
    u.shell,
    ...password,
    u.name,
  ];
}

export function useraddCommand(u: PlannedUser, groupExists: boolean, accountsRoot?: string): string[] {
  return systemUseraddCommand(u, groupExists, accountsRoot, ["--password", NO_PASSWORD]);
}

/** A service user: a system account with its own group, no home, no login, no password. */
export function serviceUseraddCommand(u: PlannedServiceUser, groupExists: boolean, accountsRoot?: string): string[] {
  return systemUseraddCommand(u, groupExists, accountsRoot, []);
}

/** Creates a missing service user, adds missing groups to an existing one (never takes groups away). */
function serviceUserActions(u: PlannedServiceUser, observed: ObservedHost, actions: HostAction[], accountsRoot: string): void {
  const o = observed.users.get(u.name);
  if (!o?.passwd) {
    actions.push({ kind: "create-user", user: u.name, commands: [serviceUseraddCommand(u, o?.groupExists ?? false, accountsRoot)] });
    return;
  }
  if (o.passwd.uid === 0) throw new HostError(`refusing to manage user "${u.name}": it has uid 0`, ExitCode.Config);
  addMissingGroups(u.name, u.groups, o.groups, actions, accountsRoot);
}

/** Adds the planned supplementary groups an account lacks (never takes one away). */
function addMissingGroups(name: string, planned: readonly string[], current: readonly string[], actions: HostAction[], accountsRoot: string): void {
  const missing = planned.filter((g) => !current.includes(g));
  if (missing.length > 0) {
    actions.push({ kind: "update-user", user: name, changes: [`groups +${missing.join(",+")}`], commands: [["usermod", ...prefixArgs(accountsRoot), "--append", "--groups", missing.join(","), name]] });
  }
}

function fileChange(node: ObservedNode | undefined, content: string, mode: number, owner: DiffOptions["fileOwner"]): string | undefined {
  if (!node || node.type === "missing") return "create";
  if (node.type !== "file") return "replace";
  if (node.content !== content) return "update";
  if (node.mode !== mode) return `fix mode ${(node.mode ?? 0).toString(8).padStart(4, "0")} -> ${mode.toString(8).padStart(4, "0")} of`;
  if (owner && (node.uid !== owner.uid || node.gid !== owner.gid)) return `fix owner ${String(node.uid)}:${String(node.gid)} -> ${owner.uid}:${owner.gid} of`;
  return undefined;
}

function linkChange(node: ObservedNode | undefined, target: string): string | undefined {
  if (!node || node.type === "missing") return "create";
  if (node.type !== "link") return "replace";
  return node.target === target ? undefined : "update";
}

function userActions(u: PlannedUser, root: string, observed: ObservedHost, actions: HostAction[], accountsRoot: string): void {
  const prefix = prefixArgs(accountsRoot);
  const o = observed.users.get(u.name);
  if (!o?.passwd) {
    actions.push({ kind: "create-user", user: u.name, commands: [useraddCommand(u, o?.groupExists ?? false, accountsRoot)] });
  } else {
    if (o.passwd.uid === 0) throw new HostError(`refusing to manage user "${u.name}": it has uid 0`, ExitCode.Config);
    const changes: string[] = [];
    const args: string[] = [];
    if (o.passwd.home !== u.home) {
      changes.push(`home ${o.passwd.home} -> ${u.home}`);
      args.push("--home", u.home);
    }
    if (o.passwd.shell !== u.shell) {
      changes.push(`shell ${o.passwd.shell} -> ${u.shell}`);
      args.push("--shell", u.shell);
    }
    if (o.password !== NO_PASSWORD) {
      changes.push("password -> none (key authentication only)");
      args.push("--password", NO_PASSWORD);
    }
    const commands: string[][] = changes.length > 0 ? [["usermod", ...prefix, ...args, u.name]] : [];
    // Token groups are added and, when the user no longer uses that token, taken away again; other groups the
    // operator gave the user are left alone.
    const missing = u.groups.filter((g) => !o.groups.includes(g));
    const stale = o.groups.filter((g) => g.startsWith(TOKEN_GROUP_PREFIX) && !u.groups.includes(g));
    if (missing.length > 0) changes.push(`groups +${missing.join(",+")}`);
    for (const g of stale) changes.push(`groups -${g}`);
    if (accountsRoot && (missing.length > 0 || stale.length > 0)) {
      // gpasswd has no --prefix: the whole supplementary list, the operator's groups kept.
      const groups = [...o.groups.filter((g) => !stale.includes(g)), ...missing].sort();
      commands.push(["usermod", ...prefix, "--groups", groups.join(","), u.name]);
    } else {
      if (missing.length > 0) commands.push(["usermod", "--append", "--groups", missing.join(","), u.name]);
      for (const g of stale) commands.push(["gpasswd", "--delete", u.name, g]);
    }
    if (changes.length > 0) actions.push({ kind: "update-user", user: u.name, changes, commands });
  }
  const home = observed.homes.get(u.name);
  // The home is root:root 0755 (the user must not be able to rename what root walks below it); the user's own
  // directories are leaves below .local/state/signstar (lib/secrets/state-dirs.ts).
  if (!home || home.type === "missing") actions.push({ kind: "ensure-home", user: u.name, root, accountsRoot, path: u.stagedHome, change: "create", stateDirs: u.stateDirs });
  else if (home.type !== "directory") throw new HostError(`home ${u.stagedHome} of user "${u.name}" exists but is not a directory`, ExitCode.Config);
  else if (home.mode !== 0o755 || home.uid !== 0 || home.gid !== 0) {
    actions.push({ kind: "ensure-home", user: u.name, root, accountsRoot, path: u.stagedHome, change: "fix owner/mode of", stateDirs: u.stateDirs });
  }
}

/** The log writer's account: a system account that never logs in (password locked, nologin). */
export function logWriterUseraddCommand(w: PlannedLogWriter, groupExists: boolean, accountsRoot?: string): string[] {
  return systemUseraddCommand({ name: w.user, groups: w.groups, home: w.home, shell: w.shell }, groupExists, accountsRoot, []);
}

/** The account (created, never changed: it is ours alone) and its directories, owner and mode exact. */
function logWriterActions(w: PlannedLogWriter, observed: ObservedHost, actions: HostAction[], accountsRoot: string): void {
  const o = observed.logWriter;
  if (!o?.passwd) actions.push({ kind: "create-user", user: w.user, commands: [logWriterUseraddCommand(w, o?.groupExists ?? false, accountsRoot)] });
  else if (o.passwd.uid === 0) throw new HostError(`refusing to use user "${w.user}" for the signing log writer: it has uid 0`, ExitCode.Config);
  // The log key's token group (signing_log.pkcs11_token) is added; nothing else about the account is changed.
  else addMissingGroups(w.user, w.groups, o.groups ?? [], actions, accountsRoot);
  for (const d of w.dirs) {
    const node = o?.dirs.get(d.stagedPath);
    let change: string | undefined;
    if (!node || node.type === "missing") change = "create";
    else if (node.type !== "directory") throw new HostError(`${d.stagedPath} exists but is not a directory`, ExitCode.Config);
    else if (node.mode !== d.mode || o?.passwd === undefined || node.uid !== o.passwd.uid || node.gid !== o.passwd.gid) change = "fix owner/mode of";
    if (change !== undefined) actions.push({ kind: "ensure-dir", path: d.stagedPath, owner: w.user, accountsRoot, mode: d.mode, change });
  }
}

export function diffHost(plan: HostPlan, observed: ObservedHost, opts: DiffOptions): HostChanges {
  const actions: HostAction[] = [];
  const notes: string[] = [];
  if (opts.manageUsers) {
    for (const g of plan.groups) {
      if (observed.groups.get(g) !== true) actions.push({ kind: "create-group", group: g, commands: [["groupadd", ...prefixArgs(opts.accountsRoot), "--system", g]] });
    }
  }
  if (opts.manageUsers) for (const u of plan.users) userActions(u, plan.root, observed, actions, opts.accountsRoot ?? "");
  if (opts.manageUsers && plan.logWriter !== undefined) logWriterActions(plan.logWriter, observed, actions, opts.accountsRoot ?? "");
  if (opts.manageUsers) for (const u of plan.serviceUsers) serviceUserActions(u, observed, actions, opts.accountsRoot ?? "");
  for (const file of plan.files) {
    const node = observed.files.get(file.path);
    const change = file.linkTarget !== undefined ? linkChange(node, file.linkTarget) : fileChange(node, file.content, file.mode, opts.fileOwner);
    if (change) actions.push({ kind: "write-file", file, change });
  }
  const leftUsers = new Set<string>();
  for (const s of observed.stale) {
    actions.push({ kind: "remove-file", path: s.path, why: `user ${s.user} is no longer in the configuration` });
    leftUsers.add(s.user);
  }
  for (const r of observed.retired) actions.push({ kind: "remove-file", path: r.path, why: r.why });
  if (observed.retired.length > 0 && plan.logWriter === undefined) {
    notes.push(
      `the signing log is off: its writer's socket is no longer enabled at boot (stop a running one with: systemctl disable --now ${LOG_WRITER_SOCKET_UNIT} signstar-log-writer.service); ` +
        `the log, its key, log.vkey and the user ${LOG_WRITER_USER} are kept: turning signing_log on again continues the same log`,
    );
  }
  for (const user of leftUsers) {
    notes.push(`Unix user ${user} is kept: it left the configuration, but accounts are never deleted automatically (remove it with: userdel ${user})`);
  }
  if (!opts.manageUsers && (plan.users.length + plan.serviceUsers.length > 0 || plan.logWriter !== undefined)) {
    notes.push(`user accounts are not changed below --root (${plan.root}/etc/passwd does not exist); on the target system they need:`);
    for (const g of plan.groups) notes.push(`  groupadd --system ${g}  (unless it exists)`);
    for (const u of plan.users) notes.push(`  ${formatCommand(useraddCommand(u, false))}`);
    if (plan.logWriter !== undefined) notes.push(`  ${formatCommand(logWriterUseraddCommand(plan.logWriter, false))}`);
    for (const u of plan.serviceUsers) notes.push(`  ${formatCommand(serviceUseraddCommand(u, false))}  (${u.purpose})`);
  }
  return { actions, notes };
}
