/** Text of the files generated per Signstar user (pure functions; golden-tested). */
import type { AuthorizedKey, Config, LogKeyPlace, Role } from "../config/model.js";
import { SIGNING_LIMITS } from "../config/primitives.js";
import type { HostLayout, UserStateLeaf } from "../layout/host-layout.js";
import { COUNTERS_DIR_MODE } from "../metrics/signature-counters.js";
import { LEAF_LAYOUT, PARENT_MODE } from "../secrets/state-dirs.js";

const HEADER = "# Managed by signstar-configure-build. Changes are overwritten.\n";

/**
 * What a user's tmpfiles.d entry creates besides its home and the root-owned `.local/state/signstar` chain. Only
 * which directories: their paths come from the layout of whoever uses this (the target's for the tmpfiles.d text,
 * the staged one for the directories configure-build makes).
 */
export interface UserStateDirs {
  /** `secrets/` root 0711 (users holding backend secrets). */
  readonly secrets: boolean;
  /** `shares/` user 0700 (share holders). */
  readonly shares: boolean;
  /** `uploads/` user 0700 (backup_upload / update_upload). */
  readonly uploads: boolean;
  /** The user's signature counter directory `signatureCounters(user)` (signing users): user 0755. */
  readonly counters: boolean;
  /** The user's resident signer directory `signerDir(user)` below /run (signing users): user 0700 (lib/signer/listen.ts). */
  readonly signer: boolean;
  /**
   * The share holder's upload directory `shareUploadDir(user)` below /run/signstar/share-uploads (tmpfs: uploaded
   * shares never reach a disk): the holder 0755, made at every boot, so a holder can upload right after a reboot
   * (lib/spool/shares.ts).
   */
  readonly shareUpload: boolean;
}

/** Mode of a share holder's upload directory (as lib/spool/shares.ts ensureUploadDirs makes it). */
export const SHARE_UPLOAD_DIR_MODE = 0o755;

/** Mode of a signing user's /run/signstar/signer/<user>: only the user reaches its socket and fallback slots. */
export const SIGNER_DIR_MODE = 0o700;

/**
 * sshd's MaxSessions for signing users: how many exec channels one connection may have open, i.e. how many of a
 * `signstar-request-signature send FILE…` batch are in flight at once (its --parallel default is below this). The
 * resident signer's own limits ([system] signing_concurrency, signing_queue: signerLimitsEnv) still bound the
 * user as a whole, over all its connections.
 */
export const SIGNING_MAX_SESSIONS = 16;

/**
 * sshd's MaxSessions for log readers: `signstar-request-signature verify-log` fetches the checkpoint, tiles and
 * entry bundle one file per exec channel, several at once on one connection (its --parallel default is below).
 */
export const LOG_READER_MAX_SESSIONS = 16;

const octal = (mode: number): string => mode.toString(8).padStart(4, "0");

/**
 * tmpfiles.d lines of one user (paths of `layout`, the target system's): the home and every directory down to `.local/state/signstar` are root:root 0755
 * (the user can rename or replace nothing on the path root walks), then the leaves the role needs.
 */
export function renderTmpfiles(user: string, layout: HostLayout, dirs: UserStateDirs): string {
  const lines = layout.userStateChain(user).map((d) => `d ${d} ${octal(PARENT_MODE)} root root -`);
  for (const leaf of ["secrets", "shares", "uploads"] as const satisfies readonly UserStateLeaf[]) {
    if (!dirs[leaf]) continue;
    const { owner, mode } = LEAF_LAYOUT[leaf];
    const who = owner === "root" ? "root root" : `${user} ${user}`;
    lines.push(`d ${layout.userState(user, leaf)} ${octal(mode)} ${who} -`);
  }
  if (dirs.counters) lines.push(`d ${layout.signatureCounters(user)} ${octal(COUNTERS_DIR_MODE)} ${user} ${user} -`);
  if (dirs.signer) lines.push(`d ${layout.signerDir(user)} ${octal(SIGNER_DIR_MODE)} ${user} ${user} -`);
  if (dirs.shareUpload) lines.push(`d ${layout.shareUploadDir(user)} ${octal(SHARE_UPLOAD_DIR_MODE)} ${user} ${user} -`);
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

/**
 * The environment every Signstar user's session gets whatever the client sends. Debian's sshd_config has
 * `AcceptEnv LANG LC_*`, and Node.js 20's ICU dereferences NULL on a locale such as LANG=/nonexistent before any
 * of our code runs (exit 139, no audit entry). sshd applies SetEnv after the variables it accepted from the
 * client, so these values win (sshd_config(5), SetEnv; session.c do_setup_env). LC_ALL overrides every other
 * LC_* variable. sshd uses only the first SetEnv line of the Match blocks that apply to a connection (and a
 * Match block's replaces the global SetEnv), so an earlier Match block with its own SetEnv for the user would
 * disable this one: configure-build checks with `sshd -T -C user=…` and warns.
 */
export const PINNED_ENV: readonly (readonly [string, string])[] = [
  ["LANG", "C.UTF-8"],
  ["LC_ALL", "C.UTF-8"],
];

/**
 * The per-user signing limits of the configuration as the resident signer (lib/signer/server.ts limitsFromEnv)
 * and the forwarder's fallback (lib/signer/native/forwarder.c) read them. Always written out, defaults included,
 * so what a host enforces is visible in its unit drop-in and sshd drop-ins.
 */
export function signerLimitsEnv(config: Config): readonly (readonly [string, string])[] {
  return [
    ["SIGNSTAR_SIGNER_CONCURRENT", String(config.system.signingConcurrency ?? SIGNING_LIMITS.concurrency.default)],
    ["SIGNSTAR_SIGNER_QUEUED", String(config.system.signingQueue ?? SIGNING_LIMITS.queue.default)],
  ];
}

/**
 * The drop-in of the template signstar-signer@.service (every user's resident signer): the limits. systemd reads
 * it on `daemon-reload`; a running signer keeps its limits until it exits (idle) and socket activation starts it
 * again (configure-build says so).
 */
export function renderSignerServiceDropIn(limits: readonly (readonly [string, string])[]): string {
  return `${HEADER}# Per-user signing limits from the configuration ([system] signing_concurrency, signing_queue).
[Service]
${limits.map(([k, v]) => `Environment=${k}=${v}
`).join("")}`;
}

/**
 * The log writer's drop-in: where its key comes from. The shipped unit loads the root-only key file as a credential;
 * with the key on a dedicated PKCS#11 token or the NetHSM ([system] signing_log) there is no key file, and a
 * credential whose file is missing stops the unit from starting, so the empty assignment resets the list
 * (systemd.exec(5): an empty LoadCredential= clears the credentials assigned before).
 */
export function renderLogWriterServiceDropIn(place: LogKeyPlace): string {
  switch (place.kind) {
    case "file":
      return `${HEADER}# The log key is the root-only key file the unit loads as its credential signstar-log-key.\n[Service]\n`;
    case "pkcs11":
      return `${HEADER}# The log key is on a PKCS#11 token ([system] signing_log.pkcs11_token): no key file to load.\n[Service]\nLoadCredential=\n`;
    case "nethsm":
      // The writer signs each checkpoint through the NetHSM's REST API (HTTPS): it needs IP sockets besides AF_UNIX.
      return (
        `${HEADER}# The log key is on the NetHSM ([system] signing_log.nethsm_key): no key file to load; the writer reaches the NetHSM over HTTPS.\n` +
        "[Service]\nLoadCredential=\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
      );
  }
}

/**
 * The per-user sshd drop-in: key file, fixed command, pinned locale, no TTY, no forwarding of any kind. `env`
 * (signing users: signerLimitsEnv, for the forwarder's fallback) joins the pinned locale on the one SetEnv line:
 * sshd keeps only the first SetEnv of the Match blocks that apply (see PINNED_ENV), so a second line would be lost.
 */
export function renderSshdDropIn(user: string, role: Role, authorizedKeysFile: string, forceCommand: string, env: readonly (readonly [string, string])[] = []): string {
  return (
    `${HEADER}# Signstar user "${user}" (role ${role}).\n` +
    `Match User ${user}\n` +
    [
      `AuthorizedKeysFile ${authorizedKeysFile}`,
      `ForceCommand ${forceCommand}`,
      `SetEnv ${[...PINNED_ENV, ...env].map(([k, v]) => `${k}=${v}`).join(" ")}`,
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
      ...(role === "signing" ? [`MaxSessions ${SIGNING_MAX_SESSIONS}`] : []),
      ...(role === "log_reader" ? [`MaxSessions ${LOG_READER_MAX_SESSIONS}`] : []),
    ]
      .map((line) => `    ${line}\n`)
      .join("")
  );
}
