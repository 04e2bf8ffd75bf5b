/** Reads the native TOML layout (`[system]`, `[nethsm]`, `[pkcs11]`) into ConfigParts, recording located problems. */
import type {
  AdminSecretHandling,
  LogKeyPlace,
  MetricsBackendUsers,
  NetHsmConnection,
  NetHsmMapping,
  Pkcs11Mapping,
  SshAccess,
  SystemMapping,
} from "./model.js";
import type { ConfigParts } from "./parts.js";
import {
  authorizedKey,
  httpsUrl,
  keyId,
  logOrigin,
  logTokenLabel,
  modulePath,
  netHsmUserId,
  parseAdminSecretHandling,
  parseKeySelector,
  parseKeySetup,
  parseTokenSelector,
  secretHandling,
  auditLogPolicy,
  SIGNING_LIMITS,
  systemUserId,
  systemWideUserId,
  tag,
  tlsSecurityParser,
} from "./primitives.js";
import type { Problems } from "./problems.js";
import { TableReader, childLocation, complete, int, isTable, list, prim, variant, type Parser } from "./reader.js";

/** Most mappings a section may hold. */
export const MAX_MAPPINGS = 1000;

const NETHSM_KINDS = ["admin", "backup", "metrics", "hermetic_metrics", "signing", "backup_upload", "update_upload", "key_certificates"] as const;
type NetHsmKind = (typeof NETHSM_KINDS)[number];
const SYSTEM_KINDS = ["share_holder", "wire_guard_download", "log_reader"] as const;
type SystemKind = (typeof SYSTEM_KINDS)[number];

/**
 * Everything the native TOML layout has beyond Signstar's own format (V4 `Config`, `SystemConfig` and
 * `NetHsmConfig` in archlinux/signstar's signstar-config: system = iteration, admin and non-admin secret handling,
 * share_holder and wire_guard_download mappings; nethsm = connections and the admin, backup, metrics,
 * hermetic_metrics and signing mappings). The one list a dialect's `extensions` decision applies to.
 */
export const NATIVE_EXTENSIONS = {
  sections: ["pkcs11"],
  systemKeys: ["signing_log", "audit_log", "signing_concurrency", "signing_queue"],
  systemKinds: ["log_reader"],
  nethsmKinds: ["backup_upload", "update_upload", "key_certificates"],
} as const satisfies {
  readonly sections: readonly string[];
  readonly systemKeys: readonly string[];
  readonly systemKinds: readonly SystemKind[];
  readonly nethsmKinds: readonly NetHsmKind[];
};

const isExtension = (list: readonly string[], name: string): boolean => list.includes(name);

/**
 * How a layout reads the shared structure: the native TOML layout has everything; Signstar's V4 YAML
 * (lib/config/signstar-yaml.ts) is exactly Signstar's format, so none of the native extensions, another spelling of
 * the fingerprints key and Signstar's own SSS bounds.
 */
export interface Dialect {
  /**
   * Whether the native extensions (NATIVE_EXTENSIONS: the pkcs11 section, the system keys and the mapping kinds
   * Signstar lacks) are read; if not, each one present is one problem, `lacks("the key signing_log")`.
   */
  readonly extensions: boolean;
  readonly fingerprintsKey: "fingerprints" | "Fingerprints";
  readonly adminSecretHandling: Parser<AdminSecretHandling>;
  /** The problem for an extension this dialect lacks (`what` is e.g. `the mapping kind backup_upload`). */
  readonly lacks: (what: string) => string;
}

export const NATIVE_DIALECT: Dialect = {
  extensions: true,
  fingerprintsKey: "fingerprints",
  adminSecretHandling: parseAdminSecretHandling,
  lacks: (what) => `${what} is not allowed here`,
};

function sshAccess(t: TableReader): SshAccess | undefined {
  const systemUser = t.required("system_user", prim(systemUserId));
  const sshAuthorizedKey = t.required("ssh_authorized_key", prim(authorizedKey));
  return systemUser === undefined || sshAuthorizedKey === undefined ? undefined : { systemUser, sshAuthorizedKey };
}

/** Reads a table with `read`, reports unknown keys, returns undefined if the table or any field had problems. */
function table<T>(read: (t: TableReader) => T | undefined): Parser<T> {
  return (v, loc, problems) => {
    const t = TableReader.open(v, loc, problems);
    if (t === undefined) return undefined;
    const before = problems.list.length;
    const value = read(t);
    t.finish();
    return problems.list.length === before ? value : undefined;
  };
}

const systemMapping = (dialect: Dialect): Parser<SystemMapping> => (v, loc, problems) => {
  const m = variant(v, loc, problems, SYSTEM_KINDS);
  if (m === undefined) return undefined;
  if (!dialect.extensions && isExtension(NATIVE_EXTENSIONS.systemKinds, m.kind)) {
    problems.add(m.location, dialect.lacks(`the mapping kind ${m.kind}`));
    return undefined;
  }
  const access = table(sshAccess)(m.value, m.location, problems);
  return access === undefined ? undefined : { kind: m.kind, ...access };
};

export const metricsBackendUsers: Parser<MetricsBackendUsers> = table((t) => {
  const metricsUser = t.required("metrics_user", prim(systemWideUserId));
  const operatorUsers = complete(t.required("operator_users", list(prim(netHsmUserId), { max: 256 })));
  return metricsUser === undefined || operatorUsers === undefined ? undefined : { metricsUser, operatorUsers };
});

const netHsmMapping = (dialect: Dialect): Parser<NetHsmMapping> => (v, loc, problems) => {
  const m = variant(v, loc, problems, NETHSM_KINDS);
  if (m === undefined) return undefined;
  if (!dialect.extensions && isExtension(NATIVE_EXTENSIONS.nethsmKinds, m.kind)) {
    problems.add(m.location, dialect.lacks(`the mapping kind ${m.kind}`));
    return undefined;
  }
  switch (m.kind) {
    case "admin": {
      const backendUser = prim(netHsmUserId)(m.value, m.location, problems);
      return backendUser === undefined ? undefined : { kind: "admin", backendUser };
    }
    case "backup":
      return table<NetHsmMapping>((t) => {
        const backendUser = t.required("backend_user", prim(systemWideUserId));
        const access = sshAccess(t);
        return backendUser === undefined || access === undefined ? undefined : { kind: "backup", backendUser, ...access };
      })(m.value, m.location, problems);
    case "metrics":
      return table<NetHsmMapping>((t) => {
        const backendUsers = t.required("backend_users", metricsBackendUsers);
        const access = sshAccess(t);
        return backendUsers === undefined || access === undefined ? undefined : { kind: "metrics", backendUsers, ...access };
      })(m.value, m.location, problems);
    case "hermetic_metrics":
      return table<NetHsmMapping>((t) => {
        const backendUsers = t.required("backend_users", metricsBackendUsers);
        const systemUser = t.required("system_user", prim(systemUserId));
        return backendUsers === undefined || systemUser === undefined ? undefined : { kind: "hermetic_metrics", backendUsers, systemUser };
      })(m.value, m.location, problems);
    case "signing":
      return table<NetHsmMapping>((t) => {
        const backendUser = t.required("backend_user", prim(netHsmUserId));
        const signingKeyId = t.required("signing_key_id", prim(keyId));
        const keySetup = t.required("key_setup", parseKeySetup);
        const theTag = t.required("tag", prim(tag));
        const access = sshAccess(t);
        if (backendUser === undefined || signingKeyId === undefined || keySetup === undefined || theTag === undefined || access === undefined) {
          return undefined;
        }
        return { kind: "signing", backendUser, signingKeyId, keySetup, tag: theTag, ...access };
      })(m.value, m.location, problems);
    case "backup_upload":
    case "update_upload": {
      const kind = m.kind;
      return table<NetHsmMapping>((t) => {
        const access = sshAccess(t);
        return access === undefined ? undefined : { kind, ...access };
      })(m.value, m.location, problems);
    }
    case "key_certificates":
      return table<NetHsmMapping>((t) => {
        const backendUsers = complete(t.required("backend_users", list(prim(netHsmUserId), { max: 256 })));
        const access = sshAccess(t);
        return backendUsers === undefined || access === undefined ? undefined : { kind: "key_certificates", backendUsers, ...access };
      })(m.value, m.location, problems);
  }
};

const connection = (dialect: Dialect): Parser<NetHsmConnection> => table((t) => {
  const url = t.required("url", prim(httpsUrl));
  const tlsSecurity = t.required("tls_security", tlsSecurityParser(dialect.fingerprintsKey));
  return url === undefined || tlsSecurity === undefined ? undefined : { url, tlsSecurity };
});

const pkcs11Mapping: Parser<Pkcs11Mapping> = (v, loc, problems) => {
  const m = variant(v, loc, problems, ["admin", "signing", "key_certificates", "metrics"] as const);
  if (m === undefined) return undefined;
  if (m.kind === "key_certificates" || m.kind === "metrics") {
    const kind = m.kind;
    return table<Pkcs11Mapping>((t) => {
      const access = sshAccess(t);
      return access === undefined ? undefined : { kind, ...access };
    })(m.value, m.location, problems);
  }
  if (m.kind === "admin") {
    return table<Pkcs11Mapping>((t) => {
      const token = t.required("token", parseTokenSelector);
      return token === undefined ? undefined : { kind: "admin", token };
    })(m.value, m.location, problems);
  }
  return table<Pkcs11Mapping>((t) => {
    const token = t.required("token", parseTokenSelector);
    const key = t.required("key", parseKeySelector);
    const keySetup = t.required("key_setup", parseKeySetup);
    const access = sshAccess(t);
    if (token === undefined || key === undefined || keySetup === undefined || access === undefined) return undefined;
    return { kind: "signing", token, key, keySetup, ...access };
  })(m.value, m.location, problems);
};

/** An optional per-user signing limit, within its bounds. */
function limit(t: TableReader, key: string, bounds: { readonly min: number; readonly max: number }): number | undefined {
  return t.optional(key, int(bounds.min, bounds.max));
}

/**
 * The `[system]` table a dialect reads: without the native-only keys if it lacks them, each one present reported
 * once (so it is not read, nor reported again as unknown).
 */
function systemTable(v: unknown, loc: string, problems: Problems, dialect: Dialect): unknown {
  if (dialect.extensions || !isTable(v)) return v;
  const kept = { ...v };
  for (const key of NATIVE_EXTENSIONS.systemKeys) {
    if (!Object.hasOwn(kept, key)) continue;
    problems.add(childLocation(loc, key), dialect.lacks(`the key ${key}`));
    delete kept[key];
  }
  return kept;
}

function mappings<T>(t: TableReader, parse: Parser<T>): (T | undefined)[] {
  return t.optional("mappings", list(parse, { max: MAX_MAPPINGS })) ?? [];
}

/** Reads the native layout (or a `dialect` of it); `root` is the parsed document. */
export function readNative(root: unknown, problems: Problems, dialect: Dialect = NATIVE_DIALECT): ConfigParts {
  const top = TableReader.open(root, "", problems);
  if (top === undefined) return { system: undefined, nethsm: undefined, pkcs11: undefined };
  const system = top.required("system", (v, loc, p) => {
    const t = TableReader.open(systemTable(v, loc, p, dialect), loc, p);
    if (t === undefined) return undefined;
    const section = {
      iteration: t.required("iteration", int(0, 0xffff_ffff)),
      adminSecretHandling: t.required("admin_secret_handling", dialect.adminSecretHandling),
      nonAdminSecretHandling: t.required("non_admin_secret_handling", prim(secretHandling)),
      mappings: mappings(t, systemMapping(dialect)),
      signingLog: t.optional("signing_log", (sv, sloc, sp) => {
        const st = TableReader.open(sv, sloc, sp);
        if (st === undefined) return undefined;
        const before = sp.list.length;
        const origin = st.required("origin", prim(logOrigin));
        const token = st.optional("pkcs11_token", prim(logTokenLabel));
        const user = st.optional("nethsm_user", prim(systemWideUserId));
        const key = st.optional("nethsm_key", prim(keyId));
        st.finish();
        // One place for the key: a token, a NetHSM user and key (both), or neither (the root-only key file).
        if (sp.list.length !== before) return undefined;
        if (token !== undefined && (user !== undefined || key !== undefined)) sp.add(`${sloc}.pkcs11_token`, "and nethsm_user/nethsm_key both name a place for the log key; give one");
        else if ((user === undefined) !== (key === undefined)) sp.add(`${sloc}.${user === undefined ? "nethsm_user" : "nethsm_key"}`, "is required with " + (user === undefined ? "nethsm_key" : "nethsm_user"));
        if (origin === undefined || sp.list.length !== before) return undefined;
        const place: LogKeyPlace =
          token !== undefined ? { kind: "pkcs11", token } : user !== undefined && key !== undefined ? { kind: "nethsm", user, keyId: key } : { kind: "file" };
        return { origin, key: place };
      }),
      auditLog: t.optional("audit_log", prim(auditLogPolicy)),
      signingConcurrency: limit(t, "signing_concurrency", SIGNING_LIMITS.concurrency),
      signingQueue: limit(t, "signing_queue", SIGNING_LIMITS.queue),
    };
    t.finish();
    return section;
  });
  const nethsm = top.optional("nethsm", (v, loc, p) => {
    const t = TableReader.open(v, loc, p);
    if (t === undefined) return undefined;
    const section = {
      connections: t.optional("connections", list(connection(dialect), { max: 64 })) ?? [],
      mappings: mappings(t, netHsmMapping(dialect)),
    };
    t.finish();
    return section;
  });
  for (const name of dialect.extensions ? [] : NATIVE_EXTENSIONS.sections) {
    if (!top.has(name)) continue;
    top.take(name);
    problems.add(top.at(name), dialect.lacks(`the section ${name}`));
  }
  const pkcs11 = !dialect.extensions ? undefined : top.optional("pkcs11", (v, loc, p) => {
    const t = TableReader.open(v, loc, p);
    if (t === undefined) return undefined;
    const section = { module: t.required("module", prim(modulePath)), mappings: mappings(t, pkcs11Mapping) };
    t.finish();
    return section;
  });
  top.finish();
  return { system, nethsm, pkcs11 };
}
