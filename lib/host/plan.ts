/**
 * The host plan: everything signstar-configure-build wants to exist, computed from a Config alone (pure).
 * Paths are absolute paths on the machine that is written to (root-prefixed when rendering below a root),
 * and generated files refer to each other by those same paths, so a tree rendered below a root is usable in
 * place (tests run a second sshd on it). Image builds run configure-build inside the image (chroot) instead.
 */
import { join } from "node:path";
import type { Config, Role, SystemUserId } from "../config/model.js";
import { backendUsersOf, roleOf, sshAccessOf, userMappings } from "../config/mappings.js";
import { HARDENING_CONF } from "./hardening.js";
import {
  DEFAULT_BIN_DIR,
  FORCE_COMMANDS,
  HARDENING_FILE,
  MANAGED_PATTERNS,
  SIGNATURE_COUNTERS_BASE,
  STATE_DIRECTORIES,
  STATE_TMPFILES_FILE,
  TMPFILES_DIR,
  SSHD_DROPIN_DIR,
  USER_SHELL,
  authorizedKeysPath,
  checkSafePath,
  homePath,
  sshdDropInPath,
  tmpfilesPath,
  underRoot,
} from "./layout.js";
import { renderAuthorizedKeys, renderSshdDropIn, renderTmpfiles, type UserStateDirs } from "./render.js";

export interface PlannedUser {
  readonly name: SystemUserId;
  readonly role: Role;
  /** Home directory as it goes into passwd and tmpfiles.d (not created by useradd). */
  readonly home: string;
  readonly shell: string;
  /** Absolute path of the ForceCommand, or undefined for users without SSH access (hermetic metrics). */
  readonly forceCommand: string | undefined;
  /** Directories below the home the user's role needs (see renderTmpfiles). */
  readonly stateDirs: UserStateDirs;
}

export type PlannedFileKind = "hardening" | "tmpfiles" | "authorized_keys" | "sshd_dropin";

export interface PlannedFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  readonly kind: PlannedFileKind;
  /** The Signstar user the file belongs to (none for the hardening drop-in). */
  readonly user?: SystemUserId;
}

export interface ManagedPattern {
  readonly dir: string;
  readonly prefix: string;
  readonly suffix: string;
}

export interface HostPlan {
  readonly root: string;
  readonly users: readonly PlannedUser[];
  readonly files: readonly PlannedFile[];
  /** Where stale files of users that left the configuration are looked for. */
  readonly managed: readonly ManagedPattern[];
  readonly sshdDropInDir: string;
}

export interface PlanOptions {
  /** Root prefix; "" (default) is the live system. */
  readonly root?: string;
  /** Where the Signstar executables are installed (default /usr/bin). */
  readonly binDir?: string;
}

export function computeHostPlan(config: Config, opts: PlanOptions = {}): HostPlan {
  const root = opts.root === undefined || opts.root === "" || opts.root === "/" ? "" : checkSafePath(opts.root.replace(/\/+$/, ""), "root directory");
  const binDir = checkSafePath(opts.binDir ?? DEFAULT_BIN_DIR, "bin directory");
  const at = (path: string): string => underRoot(root, path);

  const users: PlannedUser[] = [];
  const files: PlannedFile[] = [
    { path: at(join(SSHD_DROPIN_DIR, HARDENING_FILE)), content: HARDENING_CONF, mode: 0o644, kind: "hardening" },
    {
      path: at(join(TMPFILES_DIR, STATE_TMPFILES_FILE)),
      content: STATE_DIRECTORIES.map(([dir, mode]) => `d ${at(dir)} ${mode} root root -\n`).join(""),
      mode: 0o644,
      kind: "tmpfiles",
    },
  ];
  for (const mapping of userMappings(config)) {
    const role = roleOf(mapping);
    const ssh = sshAccessOf(mapping);
    const name = mapping.mapping.systemUser;
    const home = at(homePath(name));
    const executable = FORCE_COMMANDS[role];
    const forceCommand = ssh && executable ? join(binDir, executable) : undefined;
    const stateDirs: UserStateDirs = {
      secrets: backendUsersOf(mapping).length > 0,
      shares: role === "share_holder",
      uploads: role === "backup_upload" || role === "update_upload",
      ...(role === "signing" ? { countersDir: at(join(SIGNATURE_COUNTERS_BASE, name)) } : {}),
    };
    users.push({ name, role, home, shell: USER_SHELL, forceCommand, stateDirs });
    files.push({ path: at(tmpfilesPath(name)), content: renderTmpfiles(name, home, stateDirs), mode: 0o644, kind: "tmpfiles", user: name });
    if (ssh && forceCommand) {
      const keysFile = at(authorizedKeysPath(name));
      files.push({ path: keysFile, content: renderAuthorizedKeys(ssh.sshAuthorizedKey), mode: 0o644, kind: "authorized_keys", user: name });
      files.push({
        path: at(sshdDropInPath(name)),
        content: renderSshdDropIn(name, role, keysFile, forceCommand),
        mode: 0o644,
        kind: "sshd_dropin",
        user: name,
      });
    }
  }
  return {
    root,
    users,
    files,
    managed: MANAGED_PATTERNS.map((p) => ({ ...p, dir: at(p.dir) })),
    sshdDropInDir: at(SSHD_DROPIN_DIR),
  };
}
