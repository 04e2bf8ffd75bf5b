/**
 * Which Unix groups let a Signstar user reach a PKCS#11 token (docs/pkcs11-access.md). One owner for the group
 * names: signstar-configure-build puts the users into them, signstar-configure keeps the token files in them.
 *
 * SoftHSMv2 keeps each token in a directory of files below its `directories.tokendir`; a process can use a token
 * only if it can read the module's configuration file and that directory. Debian's package makes the file
 * root:softhsm 0640 and the token directory root:softhsm 2770. So:
 *   - every user that opens a SoftHSM token is in `softhsm` (the configuration file, traversing the tokendir);
 *   - each token directory is root:signstar-tok-<hash> 2750 with files 0640, and only the users of that token
 *     (its signing users, and the key-certificates and metrics users, who read every token) are in that group.
 *     SoftHSM skips token directories it cannot read, so a signer of token A does not even see token B.
 * Through p11-kit's client module the users reach the token over the socket of p11-kit-signstar.socket instead,
 * whose group is `signstar-pkcs11`. Other vendors' modules are the operator's to grant (the docs say how).
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { hostLayout } from "../layout/host-layout.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import type { Config, TokenSelector, UserMapping } from "./model.js";

/** Debian's group of the SoftHSM configuration file and token directory (package softhsm2). */
export const SOFTHSM_GROUP = "softhsm";
/** Group of the p11-kit socket (systemd/p11-kit-signstar.socket). */
export const P11_KIT_GROUP = "signstar-pkcs11";
/**
 * The system user p11-kit-signstar@.service runs as (its `User=`): made by signstar-configure-build when the
 * configuration reaches its tokens through p11-kit's client module. It owns the SoftHSM token store it serves
 * (docs/pkcs11-access.md); nobody else opens those files.
 */
export const P11_KIT_USER = "signstar-p11kit";
/** Prefix of the per-token groups; configure-build removes users from such groups they no longer need. */
export const TOKEN_GROUP_PREFIX = "signstar-tok-";

export type ModuleKind = "softhsm" | "p11-kit-client" | "other";

export function moduleKind(module: string): ModuleKind {
  const name = basename(module);
  if (/softhsm/i.test(name)) return "softhsm";
  if (name.startsWith("p11-kit-client")) return "p11-kit-client";
  return "other";
}

/** The string a token selector hashes from (`label:<label>` or `serial:<serial>`). */
export function tokenSelectorKey(token: TokenSelector): string {
  return "label" in token ? `label:${token.label}` : `serial:${token.serial}`;
}

/**
 * The group of one token: a hash because labels may hold characters group names may not (and be long);
 * 32 bits are plenty for the handful of tokens of one host, and configure-build refuses a collision.
 */
export function tokenGroupName(token: TokenSelector): string {
  return TOKEN_GROUP_PREFIX + createHash("sha256").update(tokenSelectorKey(token)).digest("hex").slice(0, 8);
}

/** Every token of the `[pkcs11]` section, once each (signing and admin mappings). */
export function configuredTokens(config: Config): TokenSelector[] {
  const seen = new Map<string, TokenSelector>();
  for (const m of config.pkcs11?.mappings ?? []) {
    if (m.kind === "signing" || m.kind === "admin") seen.set(tokenSelectorKey(m.token), m.token);
  }
  return [...seen.values()];
}

/** The tokens a user opens: its own (PKCS#11 signing), all of them (key certificates, metrics), or none. */
export function tokensOfUser(config: Config, m: UserMapping): TokenSelector[] {
  if (config.pkcs11 === undefined) return [];
  if (m.backend === "pkcs11" && m.mapping.kind === "signing") return [m.mapping.token];
  if (m.backend === "pkcs11" && m.mapping.kind === "key_certificates") return configuredTokens(config);
  // The metrics tools report every configured token (token info, keys on it), whatever section they are in.
  if (m.mapping.kind === "metrics" || m.mapping.kind === "hermetic_metrics") return configuredTokens(config);
  return [];
}

/** Supplementary groups a user needs to reach its tokens (sorted, no duplicates). */
export function tokenAccessGroups(config: Config, m: UserMapping): string[] {
  const tokens = tokensOfUser(config, m);
  if (tokens.length === 0 || config.pkcs11 === undefined) return [];
  switch (moduleKind(config.pkcs11.module)) {
    case "softhsm":
      return [SOFTHSM_GROUP, ...tokens.map(tokenGroupName)].sort();
    case "p11-kit-client":
      return [P11_KIT_GROUP];
    case "other":
      return [];
  }
}

/** What /etc/signstar/p11-kit-signstar.env says (the settings of p11-kit-signstar@.service; no secrets). */
export interface P11KitServerSettings {
  /** SIGNSTAR_PKCS11_MODULE: the module the server loads. */
  readonly module?: string;
  /** SIGNSTAR_PKCS11_TOKEN_URI. */
  readonly tokenUri?: string;
  /** SOFTHSM2_CONF, when the module is SoftHSM and the file is not Debian's default. */
  readonly softHsmConf?: string;
}

/** Parses the environment file of the p11-kit unit (systemd's `KEY=value` lines; `#` comments, optional quotes). */
export function parseP11KitEnv(text: string): P11KitServerSettings {
  const values = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) continue;
    let value = m[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]!)) value = value.slice(1, -1);
    values.set(m[1]!, value);
  }
  const get = (k: string): string | undefined => {
    const v = values.get(k);
    return v === undefined || v === "" ? undefined : v;
  };
  const module = get("SIGNSTAR_PKCS11_MODULE");
  const tokenUri = get("SIGNSTAR_PKCS11_TOKEN_URI");
  const softHsmConf = get("SOFTHSM2_CONF");
  return { ...(module ? { module } : {}), ...(tokenUri ? { tokenUri } : {}), ...(softHsmConf ? { softHsmConf } : {}) };
}

/**
 * Supplementary groups of the p11-kit server's user: `softhsm` when it serves a SoftHSM module (Debian's
 * softhsm2.conf is root:softhsm 0640 and the token directory root:softhsm 2770), none for other modules.
 */
export function p11KitUserGroups(settings: P11KitServerSettings | undefined): string[] {
  return settings?.module !== undefined && moduleKind(settings.module) === "softhsm" ? [SOFTHSM_GROUP] : [];
}

/**
 * Reads /etc/signstar/p11-kit-signstar.env below `root` (root-owned, not writable by group or others: it names
 * the module the server loads); undefined when the operator has not written it yet.
 */
export async function readP11KitSettings(root: string | undefined): Promise<P11KitServerSettings | undefined> {
  const path = hostLayout(root).p11KitEnv;
  try {
    const { data } = await readCheckedFile(path, { what: "p11-kit server settings", maxBytes: 64 * 1024, owner: 0, clearBits: 0o022 });
    return parseP11KitEnv(data.toString("utf8"));
  } catch (error) {
    if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") return undefined;
    throw error;
  }
}
