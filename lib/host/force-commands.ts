/**
 * What signstar-configure-build writes into a Signstar user's account and sshd drop-in besides paths (those are
 * lib/layout/host-layout.ts): the ForceCommand of each role, the login shell, where the executables are.
 * .ci/bundle.mjs bundles exactly the executables named here (the server side, where start-up time matters).
 */
import type { Role } from "../config/model.js";
import { HostError } from "./errors.js";
import { ExitCode } from "../errors.js";

export const DEFAULT_BIN_DIR = "/usr/bin";
/**
 * The login shell of Signstar users. Not nologin: sshd runs ForceCommand as `$SHELL -c <command>`, so the shell
 * must execute commands; /bin/sh (dash on Debian) only ever runs the fixed ForceCommand (PermitUserRC no,
 * PermitUserEnvironment no, no TTY, and the account has no password).
 */
export const USER_SHELL = "/bin/sh";

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
  // One log file per call, named by SSH_ORIGINAL_COMMAND (`ssh reader@host tile/0/x001/234`), read-only.
  log_reader: "signstar-download-log",
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
