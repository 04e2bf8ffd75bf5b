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
import type { Config, TokenSelector, UserMapping } from "./model.js";

/** Debian's group of the SoftHSM configuration file and token directory (package softhsm2). */
export const SOFTHSM_GROUP = "softhsm";
/** Group of the p11-kit socket (systemd/p11-kit-signstar.socket). */
export const P11_KIT_GROUP = "signstar-pkcs11";
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
