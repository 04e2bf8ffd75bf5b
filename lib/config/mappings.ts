/** Views of a Config by Unix user: who exists on the host, in which role, with which backend credentials. */
import {
  pkcs11BackendUser,
  type Config,
  type NetHsmMapping,
  type NetHsmSection,
  type Pkcs11Mapping,
  type Pkcs11Section,
  type Role,
  type SshAccess,
  type UserMapping,
} from "./model.js";
import { ConfigError } from "./problems.js";

/** A Unix user mapped to a signing key, on either backend. */
export type SigningMapping =
  | { readonly backend: "nethsm"; readonly mapping: Extract<NetHsmMapping, { kind: "signing" }> }
  | { readonly backend: "pkcs11"; readonly mapping: Extract<Pkcs11Mapping, { kind: "signing" }> };

export function isSigningMapping(m: UserMapping): m is SigningMapping {
  return m.backend !== "system" && m.mapping.kind === "signing";
}

/** The backend user whose secret a signing user holds (NetHSM: its operator; PKCS#11: its token's user). */
export function backendUserOf(m: SigningMapping): string {
  return m.backend === "nethsm" ? m.mapping.backendUser : pkcs11BackendUser(m.mapping.token);
}

/** The `[nethsm]` section, which a NetHSM mapping needs. */
export function netHsmSection(config: Config): NetHsmSection {
  if (!config.nethsm) throw new ConfigError("the configuration has no [nethsm] section");
  return config.nethsm;
}

/** The `[pkcs11]` section, which a PKCS#11 mapping needs. */
export function pkcs11Section(config: Config): Pkcs11Section {
  if (!config.pkcs11) throw new ConfigError("the configuration has no [pkcs11] section");
  return config.pkcs11;
}

/** Every mapping that has a Unix user, in file order: system, then nethsm, then pkcs11. */
export function userMappings(config: Config): UserMapping[] {
  const out: UserMapping[] = [];
  for (const mapping of config.system.mappings) out.push({ backend: "system", mapping });
  for (const mapping of config.nethsm?.mappings ?? []) {
    if (mapping.kind !== "admin") out.push({ backend: "nethsm", mapping });
  }
  for (const mapping of config.pkcs11?.mappings ?? []) {
    if (mapping.kind !== "admin") out.push({ backend: "pkcs11", mapping });
  }
  return out;
}

/** The mapping of one Unix user (system users are unique in a valid Config). */
export function findUserMapping(config: Config, systemUser: string): UserMapping | undefined {
  return userMappings(config).find((m) => m.mapping.systemUser === systemUser);
}

export function roleOf(m: UserMapping): Role {
  return m.mapping.kind;
}

/** The user's SSH access; undefined for local-only (hermetic metrics) users. */
export function sshAccessOf(m: UserMapping): SshAccess | undefined {
  const mapping = m.mapping;
  if (mapping.kind === "hermetic_metrics") return undefined;
  return { systemUser: mapping.systemUser, sshAuthorizedKey: mapping.sshAuthorizedKey };
}

/** Backend user names whose secrets this Unix user holds (PKCS#11: the token user of its token). */
export function backendUsersOf(m: UserMapping): string[] {
  if (m.backend === "system") return [];
  if (m.backend === "pkcs11") return m.mapping.kind === "signing" ? [pkcs11BackendUser(m.mapping.token)] : [];
  const mapping = m.mapping;
  switch (mapping.kind) {
    case "backup":
    case "signing":
      return [mapping.backendUser];
    case "backup_upload":
    case "update_upload":
      return [];
    case "key_certificates":
      return [...mapping.backendUsers];
    case "metrics":
    case "hermetic_metrics":
      return [mapping.backendUsers.metricsUser, ...mapping.backendUsers.operatorUsers];
  }
}
