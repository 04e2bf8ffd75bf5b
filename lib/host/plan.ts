/**
 * The host plan: everything signstar-configure-build wants to exist, computed from a Config alone (pure).
 * Two layouts (lib/layout/host-layout.ts `stagedLayout`): the paths inside generated files (drop-ins, tmpfiles.d,
 * passwd homes, unit links) are the target system's; the paths written to are the staged ones (below --root).
 * With --root DIR the tree is for a system that sees DIR at / (an image), so no file names DIR. Tests that run a
 * second sshd on a tree rendered into a temporary directory say so with `inPlace`.
 */
import { join } from "node:path";
import type { Config, Role, SystemUserId, UserMapping } from "../config/model.js";
import { backendUsersOf, roleOf, sshAccessOf, userMappings } from "../config/mappings.js";
import { P11_KIT_USER, configuredTokens, moduleKind, p11KitUserGroups, SOFTHSM_GROUP, tokenAccessGroups, tokenGroupName, type P11KitServerSettings } from "../config/token-access.js";
import { P11_KIT_SOCKET_UNIT, managedFilePatterns, stagedLayout, type HostLayout, type ManagedFilePattern } from "../layout/host-layout.js";
import { HARDENING_CONF } from "./hardening.js";
import { DEFAULT_BIN_DIR, FORCE_COMMANDS, USER_SHELL, checkSafePath } from "./force-commands.js";
import { ExitCode } from "../errors.js";
import { HostError } from "./errors.js";
import { renderAuthorizedKeys, renderLogWriterServiceDropIn, renderSignerServiceDropIn, renderSshdDropIn, renderTmpfiles, signerLimitsEnv, type UserStateDirs } from "./render.js";

export interface PlannedUser {
  readonly name: SystemUserId;
  readonly role: Role;
  /** Home directory on the target system: what goes into passwd and tmpfiles.d (not created by useradd). */
  readonly home: string;
  /** Where configure-build makes the home (the staged path of `home`). */
  readonly stagedHome: string;
  readonly shell: string;
  /** Supplementary groups: token access (lib/config/token-access.ts); sorted. */
  readonly groups: readonly string[];
  /** Absolute path of the ForceCommand, or undefined for users without SSH access (hermetic metrics). */
  readonly forceCommand: string | undefined;
  /** Directories below the home the user's role needs (see renderTmpfiles). */
  readonly stateDirs: UserStateDirs;
}

export type PlannedFileKind = "hardening" | "tmpfiles" | "authorized_keys" | "sshd_dropin" | "unit_link" | "unit_dropin";

import { LOG_WRITER_USER } from "../config/model.js";
export { LOG_WRITER_USER };
/** Its shell: it never logs in. */
export const LOG_WRITER_SHELL = "/usr/sbin/nologin";
/** The writer's socket unit (systemd/signstar-log-writer.socket, installed by the package). */
export const LOG_WRITER_SOCKET_UNIT = "signstar-log-writer.socket";

/** A directory owned by the log writer's user (its uid is looked up when the directory is made). */
export interface PlannedLogDir {
  /** On the target system (the tmpfiles.d entry). */
  readonly path: string;
  /** Where configure-build makes it. */
  readonly stagedPath: string;
  readonly mode: number;
}

/**
 * With `signing_log`: the writer's system user, and the directories it alone writes: the log (signing users read
 * it, never write it) and its runtime directory (the socket, when it is started without systemd).
 */
export interface PlannedLogWriter {
  readonly user: string;
  readonly home: string;
  readonly shell: string;
  readonly dirs: readonly PlannedLogDir[];
  /** Supplementary groups: the log key's token (signing_log.pkcs11_token) on SoftHSM; otherwise none. */
  readonly groups: readonly string[];
}

/**
 * A system user a Signstar unit runs as (not a mapping of the configuration, no SSH access, no home): today the
 * p11-kit server's (`User=` of systemd/p11-kit-signstar@.service).
 */
export interface PlannedServiceUser {
  readonly name: string;
  /** Supplementary groups, sorted. */
  readonly groups: readonly string[];
  readonly home: string;
  readonly shell: string;
  /** Why it exists, for the operator. */
  readonly purpose: string;
}

/** Home and shell of a service user: it never logs in and owns no home. */
export const SERVICE_USER_HOME = "/nonexistent";
export const SERVICE_USER_SHELL = "/usr/sbin/nologin";


export interface PlannedFile {
  /** Where the file is written (staged). */
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  readonly kind: PlannedFileKind;
  /** The Signstar user the file belongs to (none for the hardening drop-in). */
  readonly user?: SystemUserId;
  /** A symbolic link to this target (a target system path) instead of a file (`content` is empty): a unit enabled as systemctl enable does. */
  readonly linkTarget?: string;
}

/** The log directories: the writer's; everyone may read (the log is public), nobody else may write. */
export const LOG_DIR_MODE = 0o755;
const TMPFILES_HEADER = "# Managed by signstar-configure-build. Changes are overwritten.\n# The signing log (docs/tlog.md): written only by its writer's user.\n";

/** The template unit of the resident signers (systemd/signstar-signer@.socket, installed by the package). */
export const SIGNER_SOCKET_TEMPLATE = "signstar-signer@.socket";

export interface HostPlan {
  /** The staging root ("" on the live system). */
  readonly root: string;
  /** Whether the target system sees the tree below `root` (tests) rather than at /. */
  readonly inPlace: boolean;
  readonly users: readonly PlannedUser[];
  readonly serviceUsers: readonly PlannedServiceUser[];
  /** Groups that must exist (the users' and service users' supplementary groups), sorted. */
  readonly groups: readonly string[];
  readonly files: readonly PlannedFile[];
  /** Where stale files of users that left the configuration are looked for (staged). */
  readonly managed: readonly ManagedFilePattern[];
  /**
   * Files configure-build writes only for a feature the configuration no longer has (staged paths), removed when
   * present, with why. Today the signing log's: with `signing_log` gone its socket is no longer enabled; the log,
   * its key and its user stay (nothing lost: turning it on again continues the same log).
   */
  readonly retired: readonly { readonly path: string; readonly why: string }[];
  readonly sshdDropInDir: string;
  /** The signing log writer (only with `signing_log` in [system]). */
  readonly logWriter?: PlannedLogWriter;
}

export interface PlanOptions {
  /** Staging root; "" (default) is the live system. The target system sees the tree at / unless `inPlace`. */
  readonly root?: string;
  /** The tree is used where it is rendered (see StagedLayoutOptions): files name staged paths. Tests only. */
  readonly inPlace?: boolean;
  /** Where the Signstar executables are installed (default /usr/bin). */
  readonly binDir?: string;
  /** /etc/signstar/p11-kit-signstar.env as read (configure-build reads it), when the config uses p11-kit. */
  readonly p11Kit?: P11KitServerSettings;
}

/**
 * The host-wide state directories (root 0755): homes, and the signature counters' base (one subdirectory per
 * signing user, owned by it, made by the user's own tmpfiles.d entry: nobody can pre-create or lock another
 * user's counter file).
 */
export function stateDirectories(layout: HostLayout): readonly string[] {
  return [layout.stateDir, layout.homeBase, layout.metricsDir, layout.signatureCountersDir];
}

/** The directories a user's role needs below its home and elsewhere (what its tools read and write). */
export function userStateDirs(mapping: UserMapping): UserStateDirs {
  const role = roleOf(mapping);
  return {
    secrets: backendUsersOf(mapping).length > 0,
    shares: role === "share_holder",
    uploads: role === "backup_upload" || role === "update_upload",
    counters: role === "signing",
    signer: role === "signing",
    shareUpload: role === "share_holder",
  };
}

/**
 * The files every host gets whatever its configuration: the sshd hardening drop-in and the host-wide tmpfiles.d
 * entry. The Debian and Arch packages ship the same text (packaging/tree.mjs imports this), so a package's
 * tmpfiles.d file and the one configure-build writes are equal.
 */
export function hostWideFiles(staged: HostLayout, target: HostLayout = staged): readonly PlannedFile[] {
  return [
    { path: staged.hardeningDropIn, content: HARDENING_CONF, mode: 0o644, kind: "hardening" },
    {
      path: staged.stateTmpfiles,
      // The bases below /run (root 0755) of the resident signers' and the share holders' upload directories (one
      // per user, in its own entry): /run is empty after every boot.
      content: [...stateDirectories(target), target.runDir, target.signersDir, target.shareUploadsDir].map((dir) => `d ${dir} 0755 root root -\n`).join(""),
      mode: 0o644,
      kind: "tmpfiles",
    },
  ];
}

export function computeHostPlan(config: Config, opts: PlanOptions = {}): HostPlan {
  const root = opts.root === undefined || opts.root === "" || opts.root === "/" ? "" : checkSafePath(opts.root.replace(/\/+$/, ""), "root directory");
  const binDir = checkSafePath(opts.binDir ?? DEFAULT_BIN_DIR, "bin directory");
  const inPlace = root !== "" && opts.inPlace === true;
  const { staged, target } = stagedLayout(root, { inPlace });

  const users: PlannedUser[] = [];
  const limits = signerLimitsEnv(config);
  // The resident signers' limits: one drop-in for the template, whether or not any signing user exists yet.
  const files: PlannedFile[] = [...hostWideFiles(staged, target), { path: staged.signerServiceDropIn, content: renderSignerServiceDropIn(limits), mode: 0o644, kind: "unit_dropin" }];
  for (const mapping of userMappings(config)) {
    const role = roleOf(mapping);
    const ssh = sshAccessOf(mapping);
    const name = mapping.mapping.systemUser;
    const executable = FORCE_COMMANDS[role];
    const forceCommand = ssh && executable ? join(binDir, executable) : undefined;
    const stateDirs = userStateDirs(mapping);
    users.push({ name, role, home: target.home(name), stagedHome: staged.home(name), shell: USER_SHELL, groups: tokenAccessGroups(config, mapping), forceCommand, stateDirs });
    files.push({ path: staged.userTmpfiles(name), content: renderTmpfiles(name, target, stateDirs), mode: 0o644, kind: "tmpfiles", user: name });
    if (role === "signing") {
      // Enabled as `systemctl enable signstar-signer@<user>.socket` would: a link in sockets.target.wants to the
      // package's template, as the target system sees it.
      const linkTarget = join(target.systemdUnitDir, SIGNER_SOCKET_TEMPLATE);
      files.push({ path: staged.signerSocketWants(name), content: "", mode: 0o777, kind: "unit_link", user: name, linkTarget });
    }
    if (ssh && forceCommand) {
      files.push({ path: staged.userAuthorizedKeys(name), content: renderAuthorizedKeys(ssh.sshAuthorizedKey), mode: 0o644, kind: "authorized_keys", user: name });
      files.push({
        path: staged.userSshdDropIn(name),
        content: renderSshdDropIn(name, role, target.userAuthorizedKeys(name), forceCommand, role === "signing" ? limits : []),
        mode: 0o644,
        kind: "sshd_dropin",
        user: name,
      });
    }
  }
  checkTokenGroups(config);
  let logWriter: PlannedLogWriter | undefined;
  if (config.system.signingLog !== undefined) {
    const dirs = (["signingLogDir", "logWriterRunDir"] as const).map((d) => ({ path: target[d], stagedPath: staged[d], mode: LOG_DIR_MODE }));
    const logKey = config.system.signingLog.key;
    const logToken = logKey.kind === "pkcs11" ? logKey.token : undefined;
    const logGroups = logToken !== undefined && config.pkcs11 !== undefined && moduleKind(config.pkcs11.module) === "softhsm" ? [SOFTHSM_GROUP, tokenGroupName({ label: logToken })].sort() : [];
    logWriter = { user: LOG_WRITER_USER, home: target.signingLogDir, shell: LOG_WRITER_SHELL, dirs, groups: logGroups };
    // tmpfiles.d makes them at boot (/run is empty then); the socket unit enabled as `systemctl enable` would.
    files.push({
      path: staged.logTmpfiles,
      content: `${TMPFILES_HEADER}${dirs.map((d) => `d ${d.path} ${d.mode.toString(8).padStart(4, "0")} ${LOG_WRITER_USER} ${LOG_WRITER_USER} -\n`).join("")}`,
      mode: 0o644,
      kind: "tmpfiles",
    });
    files.push({ path: staged.logWriterSocketWants, content: "", mode: 0o777, kind: "unit_link", linkTarget: join(target.systemdUnitDir, LOG_WRITER_SOCKET_UNIT) });
    files.push({ path: staged.logWriterServiceDropIn, content: renderLogWriterServiceDropIn(logKey), mode: 0o644, kind: "unit_dropin" });
  }
  const serviceUsers: PlannedServiceUser[] = [];
  if (config.pkcs11 !== undefined && moduleKind(config.pkcs11.module) === "p11-kit-client") {
    serviceUsers.push({ name: P11_KIT_USER, groups: p11KitUserGroups(opts.p11Kit), home: SERVICE_USER_HOME, shell: SERVICE_USER_SHELL, purpose: "p11-kit-signstar@.service" });
    // Enabled as `systemctl enable p11-kit-signstar.socket` would: signstar-configure provisions through it, and
    // every signer reaches the token through it.
    files.push({ path: staged.p11KitSocketWants, content: "", mode: 0o777, kind: "unit_link", linkTarget: join(target.systemdUnitDir, P11_KIT_SOCKET_UNIT) });
  }
  return {
    ...(logWriter !== undefined ? { logWriter } : {}),
    root,
    inPlace,
    users,
    serviceUsers,
    groups: [...new Set([...users, ...serviceUsers, ...(logWriter !== undefined ? [logWriter] : [])].flatMap((u) => u.groups))].sort(),
    files,
    managed: managedFilePatterns(staged),
    retired:
      logWriter === undefined
        ? [staged.logWriterSocketWants, staged.logWriterServiceDropIn, staged.logTmpfiles].map((path) => ({ path, why: "the signing log is off (no signing_log in [system])" }))
        : [],
    sshdDropInDir: staged.sshdDropInDir,
  };
}

/** Two tokens must not share a group (the name is a 32-bit hash of the selector). */
function checkTokenGroups(config: Config): void {
  const seen = new Map<string, string>();
  for (const token of configuredTokens(config)) {
    const group = tokenGroupName(token);
    const name = JSON.stringify(token);
    const other = seen.get(group);
    if (other !== undefined) throw new HostError(`tokens ${other} and ${name} map to the same group ${group}; rename one of them`, ExitCode.Config);
    seen.set(group, name);
  }
}
