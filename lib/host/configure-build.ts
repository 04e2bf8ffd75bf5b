/**
 * signstar-configure-build: derive users, tmpfiles.d entries, authorized_keys files and sshd drop-ins from
 * the configuration and make the host (or a directory tree, --root) match them. Idempotent: a second run finds
 * nothing to do. Unix accounts are created and corrected, never deleted.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { ExitCode } from "../errors.js";
import { LIVE_ACCOUNTS, accountsBelow } from "../os/accounts.js";
import { hostLayout, underRoot } from "../layout/host-layout.js";
import { HostError } from "./errors.js";
import { DEFAULT_BIN_DIR } from "./force-commands.js";
import type { Config } from "../config/model.js";
import { P11_KIT_USER, moduleKind, readP11KitSettings } from "../config/token-access.js";
import { describeAction, type HostAction } from "./actions.js";
import { applyAction } from "./apply.js";
import { diffHost } from "./diff.js";
import { observeHost } from "./observe.js";
import { computeHostPlan, type HostPlan } from "./plan.js";
import { SSHD, checkSshdConfig, unpinnedClientEnv } from "./sshd-check.js";
import { PINNED_ENV } from "./render.js";

export interface ConfigureBuildOptions {
  readonly config: Config;
  /** Render below this directory instead of the live system ("" = live system), for a system that sees it at /. */
  readonly root?: string;
  /** Tests only: the tree is used where it is rendered, so its files name the paths below `root` (PlanOptions). */
  readonly inPlace?: boolean;
  readonly binDir?: string;
  /** Print what would be done; change nothing. */
  readonly dryRun?: boolean;
  /**
   * Create/update Unix accounts and homes. Default: on the live system, and below --root when the tree has its own
   * etc/passwd (its accounts, with --prefix); otherwise the commands are printed for the target system.
   */
  readonly manageUsers?: boolean;
  /** One line of progress output. */
  readonly out: (line: string) => void;
}

export interface ConfigureBuildResult {
  readonly plan: HostPlan;
  readonly actions: readonly HostAction[];
  readonly notes: readonly string[];
}

const exists = (path: string): Promise<boolean> => access(path, constants.F_OK).then(
  () => true,
  () => false,
);

const executable = (path: string): Promise<boolean> => access(path, constants.X_OK).then(
  () => true,
  () => false,
);

/**
 * The bin directory: --bin-dir, else the one the existing drop-ins name (a run without --bin-dir must not quietly
 * move every ForceCommand back to /usr/bin), else /usr/bin.
 */
async function resolveBinDir(opts: ConfigureBuildOptions, notes: string[]): Promise<string> {
  if (opts.binDir !== undefined) return opts.binDir;
  const dropIns = hostLayout(opts.root).sshdDropInDir;
  const dirs = new Set<string>();
  for (const name of await readdir(dropIns).catch(() => [] as string[])) {
    if (!name.startsWith("10-signstar-user-") || !name.endsWith(".conf")) continue;
    const text = await readFile(join(dropIns, name), "utf8").catch(() => "");
    for (const m of text.matchAll(/^\s*ForceCommand (\/\S*)\/signstar-[a-z-]+$/gm)) dirs.add(m[1]!);
  }
  if (dirs.size > 1) throw new HostError(`the existing drop-ins in ${dropIns} name ForceCommands in ${[...dirs].join(" and ")}; choose one with --bin-dir`, ExitCode.Usage);
  const [kept] = dirs;
  if (kept === undefined || kept === DEFAULT_BIN_DIR) return DEFAULT_BIN_DIR;
  notes.push(`ForceCommands stay in ${kept}, as the existing drop-ins say (pass --bin-dir to change it)`);
  return kept;
}

/**
 * Every planned ForceCommand must exist (as an executable) where sshd will run it: refused on a live run; below
 * --root only an explicit --bin-dir is checked, with a warning (an image gets the package's /usr/bin later); a dry
 * run changes nothing and checks nothing.
 */
async function checkForceCommands(plan: HostPlan, opts: ConfigureBuildOptions, notes: string[]): Promise<void> {
  if (opts.dryRun || (plan.root !== "" && opts.binDir === undefined)) return;
  const missing: string[] = [];
  for (const u of plan.users) {
    if (u.forceCommand === undefined || missing.includes(u.forceCommand)) continue;
    // The ForceCommand is a target path; where it is staged on this machine:
    if (!(await executable(plan.inPlace ? u.forceCommand : underRoot(plan.root, u.forceCommand)))) missing.push(u.forceCommand);
  }
  if (missing.length === 0) return;
  const what = `ForceCommand ${missing[0]!}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ""} is not an executable`;
  if (plan.root === "") throw new HostError(`${what}; install Signstar or pass the --bin-dir it is installed in`, ExitCode.Config);
  notes.push(plan.root === "" ? `warning: ${what}` : `warning: ${what} below ${plan.root}; install it there before the image boots`);
}

export async function configureBuild(opts: ConfigureBuildOptions): Promise<ConfigureBuildResult> {
  const early: string[] = [];
  const binDir = await resolveBinDir(opts, early);
  // The p11-kit server's user needs group softhsm only when it serves SoftHSM (its env file says which module).
  const usesP11Kit = opts.config.pkcs11 !== undefined && moduleKind(opts.config.pkcs11.module) === "p11-kit-client";
  const p11Kit = usesP11Kit ? await readP11KitSettings(opts.root) : undefined;
  if (usesP11Kit && p11Kit === undefined) {
    early.push(`${hostLayout(opts.root).p11KitEnv} does not exist: user ${P11_KIT_USER} gets no module group yet (write the file, then run signstar-configure-build again)`);
  }
  const plan = computeHostPlan(opts.config, {
    ...(opts.root !== undefined ? { root: opts.root } : {}),
    ...(opts.inPlace !== undefined ? { inPlace: opts.inPlace } : {}),
    binDir,
    ...(p11Kit !== undefined ? { p11Kit } : {}),
  });
  await checkForceCommands(plan, opts, early);
  // Accounts: the live system's; below --root the staged tree's own account files (an image has them), edited with
  // `useradd --prefix ROOT` so passwd names the target's home; a tree without etc/passwd gets the commands as notes.
  const accountsRoot = plan.root !== "" && !plan.inPlace ? plan.root : "";
  const manageUsers = opts.manageUsers ?? (plan.root === "" || (accountsRoot !== "" && (await exists(join(accountsRoot, "etc", "passwd")))));
  const euid = process.geteuid?.() ?? -1;
  const observed = await observeHost(plan, manageUsers, accountsRoot ? accountsBelow(accountsRoot) : LIVE_ACCOUNTS);
  const { actions, notes } = diffHost(plan, observed, {
    manageUsers,
    accountsRoot,
    ...(euid === 0 ? { fileOwner: { uid: 0, gid: 0 } } : {}),
  });
  const allNotes = [...early, ...notes];
  if (manageUsers && accountsRoot === "" && euid !== 0) allNotes.push("not running as root: the shadow database is unreadable, so password checks of existing accounts are approximate");

  const sshdFiles = plan.files.filter((f) => f.kind === "hardening" || f.kind === "sshd_dropin");
  if (actions.some((a) => a.kind === "write-file" && (a.file.kind === "hardening" || a.file.kind === "sshd_dropin"))) {
    if (await executable(SSHD)) await checkSshdConfig({ contents: sshdFiles.map((f) => ({ name: basename(f.path), text: f.content })) });
    else allNotes.push(`${SSHD} not found: the sshd drop-ins were not validated with sshd -t`);
  }

  const prefix = opts.dryRun ? "[dry-run] " : "";
  for (const action of actions) {
    opts.out(prefix + describeAction(action));
    if (!opts.dryRun) await applyAction(action);
  }
  if (actions.length === 0) opts.out("nothing to do");
  else if (opts.dryRun) opts.out(`[dry-run] ${actions.length} change(s) planned, nothing was changed`);
  else if (plan.root === "" && actions.some((a) => touchesSshdConfig(a, plan))) {
    allNotes.push("reload sshd to apply changed drop-ins (systemctl reload ssh)");
  }
  if (!opts.dryRun && plan.root === "" && actions.some((a) => a.kind === "write-file" && a.file.kind === "unit_dropin")) {
    allNotes.push("signing limits changed: run systemctl daemon-reload; a running resident signer keeps its old limits until it exits when idle (or systemctl restart 'signstar-signer@*.service')");
  }
  if (!opts.dryRun && plan.root === "" && (await executable(SSHD))) allNotes.push(...(await clientEnvNotes(plan)));
  for (const note of allNotes) opts.out(`note: ${note}`);
  return { plan, actions, notes: allNotes };
}

function touchesSshdConfig(action: HostAction, plan: HostPlan): boolean {
  const path = action.kind === "write-file" ? action.file.path : action.kind === "remove-file" ? action.path : "";
  return path.startsWith(`${plan.sshdDropInDir}/`);
}

/**
 * Issue: Debian's `AcceptEnv LANG LC_*` hands client-chosen locales to the ForceCommand (Node.js crashes on some
 * before any audit entry). The drop-ins pin them (render.ts PINNED_ENV); this asks the live sshd whether the pin
 * is in effect for each Signstar user and names what still gets through.
 */
async function clientEnvNotes(plan: HostPlan): Promise<string[]> {
  const notes: string[] = [];
  for (const u of plan.users) {
    if (u.forceCommand === undefined) continue;
    let loose: string[];
    try {
      loose = await unpinnedClientEnv(u.name, PINNED_ENV);
    } catch (error) {
      notes.push(`warning: the client environment of user ${u.name} could not be checked: ${(error as Error).message}`);
      continue;
    }
    if (loose.length > 0) {
      notes.push(
        `warning: sshd -T -C user=${u.name} accepts client environment variables ${loose.join(" ")} that reach its ForceCommand unpinned ` +
          "(remove them from AcceptEnv, or the SetEnv of an earlier Match block for this user, which wins over the drop-in's)",
      );
    }
  }
  return notes;
}
