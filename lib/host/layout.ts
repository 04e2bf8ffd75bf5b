/** Paths and file names that signstar-configure-build manages (reference §3), below an optional root. */
import { join } from "node:path";
import type { Role } from "../config/model.js";
import { HostError } from "./errors.js";
import { ExitCode } from "../errors.js";

export const HOME_BASE = "/var/lib/signstar/home";
export const TMPFILES_DIR = "/usr/lib/tmpfiles.d";
export const SSH_DIR = "/etc/ssh";
export const SSHD_DROPIN_DIR = "/etc/ssh/sshd_config.d";
export const HARDENING_FILE = "00-signstar-hardening.conf";
/** Host-wide tmpfiles.d entries for Signstar's state directories. */
export const STATE_TMPFILES_FILE = "signstar.conf";
/**
 * The state directories every host needs: homes below /var/lib/signstar/home, and the signature counters of the
 * metrics export (root 0755; one subdirectory per signing user, owned by it, made by the user's tmpfiles.d entry:
 * nobody can pre-create or lock another user's counter file).
 */
export const STATE_DIRECTORIES = [
  ["/var/lib/signstar", "0755"],
  ["/var/lib/signstar/home", "0755"],
  ["/var/lib/signstar/metrics", "0755"],
  ["/var/lib/signstar/metrics/signatures", "0755"],
] as const;
/** The signature counter directory of one signing user (below a root). */
export const SIGNATURE_COUNTERS_BASE = "/var/lib/signstar/metrics/signatures";
export const DEFAULT_BIN_DIR = "/usr/bin";
/**
 * The login shell of Signstar users. Not nologin: sshd runs ForceCommand as `$SHELL -c <command>`, so the shell
 * must execute commands; /bin/sh (dash on Debian) only ever runs the fixed ForceCommand (PermitUserRC no,
 * PermitUserEnvironment no, no TTY, and the account has no password).
 */
export const USER_SHELL = "/bin/sh";

/** Our files are recognised by these prefixes/suffixes in their directories (stale ones are removed). */
export const MANAGED_PATTERNS = [
  { dir: TMPFILES_DIR, prefix: "signstar-user-", suffix: ".conf" },
  { dir: SSH_DIR, prefix: "signstar-user-", suffix: ".authorized_keys" },
  { dir: SSHD_DROPIN_DIR, prefix: "10-signstar-user-", suffix: ".conf" },
] as const;

export const tmpfilesPath = (user: string): string => join(TMPFILES_DIR, `signstar-user-${user}.conf`);
export const authorizedKeysPath = (user: string): string => join(SSH_DIR, `signstar-user-${user}.authorized_keys`);
export const sshdDropInPath = (user: string): string => join(SSHD_DROPIN_DIR, `10-signstar-user-${user}.conf`);
export const homePath = (user: string): string => join(HOME_BASE, user);

/** Executables (ForceCommand) per role; hermetic metrics users get no SSH access at all. */
export const FORCE_COMMANDS: Readonly<Record<Role, string | undefined>> = {
  signing: "signstar-download-signature",
  backup: "signstar-download-backup",
  metrics: "signstar-download-metrics",
  // A share holder downloads, confirms and uploads shares through one ForceCommand: it dispatches on the
  // whitelisted SSH_ORIGINAL_COMMAND (empty or `download`: print the caller's share, which stays on the host until
  // `confirm <code>`; `upload`: read it on stdin and verify it), so `ssh holder@host` downloads,
  // `ssh holder@host confirm 1a2b3c4d` removes it from the host and `ssh holder@host upload < share` uploads.
  // Signstar 0.x's name is kept; signstar-upload-secret-share is the same upload logic as a standalone executable.
  share_holder: "signstar-download-secret-share",
  wire_guard_download: "signstar-download-wireguard",
  backup_upload: "signstar-upload-backup",
  update_upload: "signstar-upload-update",
  key_certificates: "signstar-download-key-certificates",
  hermetic_metrics: undefined,
};

/**
 * Paths written into generated files must survive sshd_config and tmpfiles.d syntax unquoted: absolute,
 * no whitespace, quotes, `%` specifiers or `..`.
 */
export function checkSafePath(path: string, what: string): string {
  if (!/^\/[A-Za-z0-9._/+-]*$/.test(path) || path.split("/").includes("..") || path.length > 1024) {
    throw new HostError(`${what} "${path.slice(0, 200)}" must be an absolute path of [A-Za-z0-9._/+-] without ".."`, ExitCode.Usage);
  }
  return path;
}

/** `path` below `root` ("" or "/" mean the live system). */
export function underRoot(root: string, path: string): string {
  return root === "" || root === "/" ? path : join(root, path);
}
