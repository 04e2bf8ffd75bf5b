/** Text of the files generated per Signstar user (pure functions; golden-tested). */
import type { AuthorizedKey, Role } from "../config/model.js";

const HEADER = "# Managed by signstar-configure-build. Changes are overwritten.\n";

/** tmpfiles.d line creating the user's home (0700, owner and group the user). */
export function renderTmpfiles(user: string, home: string): string {
  return `${HEADER}d ${home} 0700 ${user} ${user} -\n`;
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
