/** Text of the files generated per Signstar user (pure functions; golden-tested). */
import type { AuthorizedKey, Role } from "../config/model.js";

const HEADER = "# Managed by signstar-configure-build. Changes are overwritten.\n";

/** What a user's tmpfiles.d entry creates besides its home and the root-owned `.local/state/signstar` chain. */
export interface UserStateDirs {
  /** `secrets/` root 0711 (users holding backend secrets). */
  readonly secrets: boolean;
  /** `shares/` user 0700 (share holders). */
  readonly shares: boolean;
  /** `uploads/` user 0700 (backup_upload / update_upload). */
  readonly uploads: boolean;
  /** The user's signature counter directory (signing users): user 0755. */
  readonly countersDir?: string;
}

/**
 * tmpfiles.d lines of one user: the home and every directory down to `.local/state/signstar` are root:root 0755
 * (the user can rename or replace nothing on the path root walks), then the leaves the role needs.
 */
export function renderTmpfiles(user: string, home: string, dirs: UserStateDirs): string {
  const state = `${home}/.local/state/signstar`;
  const lines = [home, `${home}/.local`, `${home}/.local/state`, state].map((d) => `d ${d} 0755 root root -`);
  if (dirs.secrets) lines.push(`d ${state}/secrets 0711 root root -`);
  if (dirs.shares) lines.push(`d ${state}/shares 0700 ${user} ${user} -`);
  if (dirs.uploads) lines.push(`d ${state}/uploads 0700 ${user} ${user} -`);
  if (dirs.countersDir !== undefined) lines.push(`d ${dirs.countersDir} 0755 ${user} ${user} -`);
  return `${HEADER}${lines.map((l) => `${l}\n`).join("")}`;
}

/** Splits an authorized_keys option list at commas outside double quotes. */
export function splitKeyOptions(options: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i] ?? "";
    if (c === "\\" && quoted && i + 1 < options.length) {
      current += c + (options[i + 1] ?? "");
      i++;
    } else if (c === '"') {
      quoted = !quoted;
      current += c;
    } else if (c === "," && !quoted) {
      out.push(current);
      current = "";
    } else current += c;
  }
  if (current !== "") out.push(current);
  return out;
}

/** One authorized_keys entry: `restrict` first, then the configured options, key type, blob, comment. */
export function renderAuthorizedKeys(key: AuthorizedKey): string {
  const configured = splitKeyOptions(key.options).filter((o) => o.toLowerCase() !== "restrict");
  const options = ["restrict", ...configured].join(",");
  const comment = key.comment ? ` ${key.comment}` : "";
  return `${HEADER}${options} ${key.keyType} ${key.blob}${comment}\n`;
}

/** The per-user sshd drop-in: key file, fixed command, no TTY, no forwarding of any kind. */
export function renderSshdDropIn(user: string, role: Role, authorizedKeysFile: string, forceCommand: string): string {
  return (
    `${HEADER}# Signstar user "${user}" (role ${role}).\n` +
    `Match User ${user}\n` +
    [
      `AuthorizedKeysFile ${authorizedKeysFile}`,
      `ForceCommand ${forceCommand}`,
      "PermitTTY no",
      "DisableForwarding yes",
      "AllowTcpForwarding no",
      "AllowStreamLocalForwarding no",
      "X11Forwarding no",
      "AllowAgentForwarding no",
      "PermitTunnel no",
      "PermitUserRC no",
      "GatewayPorts no",
      "PermitListen none",
      "PermitOpen none",
    ]
      .map((line) => `    ${line}\n`)
      .join("")
  );
}
