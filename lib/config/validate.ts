/**
 * Semantic validation (the rules of Signstar's `signstar-config/src/config/` at archlinux/signstar d6ad4e9, plus the PKCS#11 equivalents). Every rule runs; every problem is
 * reported at the location of the offending entry (for duplicates: each later occurrence, naming the first).
 * Order: system rules, system users across sections, SSH keys across sections, nethsm rules, pkcs11 rules.
 */
import type { AuthorizedKey, Config, NetHsmMapping, NetHsmUserId, Pkcs11Mapping, TokenSelector } from "./model.js";
import type { ConfigParts } from "./parts.js";
import { partsOf } from "./parts.js";
import { namespaceOf, sshKeyData } from "./primitives.js";
import { Problems, type Problem } from "./problems.js";
import { abbreviateKey } from "./ssh-key.js";

interface Occurrence {
  readonly key: string;
  readonly location: string;
}

const q = JSON.stringify;

/** Reports each occurrence whose key appeared before, naming the first location. */
function duplicates(items: readonly Occurrence[], problems: Problems, what: (key: string) => string): void {
  const first = new Map<string, string>();
  for (const item of items) {
    const seen = first.get(item.key);
    if (seen === undefined) first.set(item.key, item.location);
    else problems.add(item.location, `duplicate ${what(item.key)} (also used at ${seen})`);
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function tokenName(t: TokenSelector): string {
  return "label" in t ? `token label ${q(t.label)}` : `token serial ${q(t.serial)}`;
}

function validateSystem(parts: ConfigParts, problems: Problems): void {
  const s = parts.system;
  if (s === undefined) return;
  // A log reader serves the signing log's files; without signing_log there is no log to serve.
  if (s.signingLog === undefined) {
    s.mappings.forEach((m, i) => {
      if (m?.kind === "log_reader") problems.add(`system.mappings[${i}].log_reader`, "serves the signing log, but [system] has no signing_log (add signing_log = { origin = \"…\" })");
    });
  }
  const logKey = s.signingLog?.key;
  if (logKey?.kind === "nethsm" && parts.nethsm === undefined) {
    problems.add("system.signing_log.nethsm_key", `names NetHSM key ${q(logKey.keyId)}, but there is no [nethsm] section`);
  }
  const logToken = logKey?.kind === "pkcs11" ? logKey.token : undefined;
  if (logToken !== undefined) {
    // The log key's token must be the log's alone: every signing user of a token knows its user PIN, and with the
    // log key in reach could sign checkpoints that hide or fork the log (docs/tlog.md, "Where the log key lives").
    const where = "system.signing_log.pkcs11_token";
    const pm = parts.pkcs11?.mappings ?? [];
    if (parts.pkcs11 === undefined) problems.add(where, `names token label ${q(logToken)}, but there is no [pkcs11] section`);
    else if (!pm.some((m) => m?.kind === "admin" && "label" in m.token && m.token.label === logToken)) {
      problems.add(where, `token label ${q(logToken)} has no admin mapping in [pkcs11] (add admin = { token = { label = ${q(logToken)} } } for its SO PIN)`);
    }
    pm.forEach((m, i) => {
      if (m?.kind === "signing" && "label" in m.token && m.token.label === logToken) {
        problems.add(`pkcs11.mappings[${i}].signing.token`, `token label ${q(logToken)} holds the signing log key (system.signing_log.pkcs11_token); no signing user may use it`);
      }
    });
  }
  if (s.adminSecretHandling === undefined) return;
  const holders = s.mappings.filter((m) => m?.kind === "share_holder").length;
  const ash = s.adminSecretHandling;
  if (ash.kind === "shamirs-secret-sharing") {
    if (holders < ash.numberOfShares) {
      problems.add(
        "system.mappings",
        `only ${plural(holders, "shareholder", "shareholders")}, but the SSS setup requires ${ash.numberOfShares}`,
      );
    }
  } else if (holders > 0) {
    problems.add(
      "system.mappings",
      `${plural(holders, "SSS shareholder", "SSS shareholders")}, but the administrative secret handling is ${ash.kind}`,
    );
  }
}

/** Every (system user, SSH key) of every mapping in file order, with locations. */
function accessOccurrences(parts: ConfigParts): { users: Occurrence[]; keys: Occurrence[] } {
  const users: Occurrence[] = [];
  const keys: Occurrence[] = [];
  const visit = (loc: string, m: { systemUser: string; sshAuthorizedKey?: AuthorizedKey }): void => {
    users.push({ key: m.systemUser, location: `${loc}.system_user` });
    if (m.sshAuthorizedKey !== undefined) keys.push({ key: sshKeyData(m.sshAuthorizedKey), location: `${loc}.ssh_authorized_key` });
  };
  parts.system?.mappings.forEach((m, i) => m && visit(`system.mappings[${i}].${m.kind}`, m));
  parts.nethsm?.mappings.forEach((m, i) => m && m.kind !== "admin" && visit(`nethsm.mappings[${i}].${m.kind}`, m));
  parts.pkcs11?.mappings.forEach((m, i) => m && m.kind !== "admin" && visit(`pkcs11.mappings[${i}].${m.kind}`, m));
  return { users, keys };
}

function validateNetHsm(parts: ConfigParts, problems: Problems): void {
  const n = parts.nethsm;
  if (n === undefined) return;
  if (n.connections.length === 0) problems.add("nethsm.connections", "contains no connections (add at least one { url, tls_security })");
  duplicates(
    n.connections.flatMap((c, i) => (c ? [{ key: c.url, location: `nethsm.connections[${i}].url` }] : [])),
    problems,
    (url) => `URL ${q(url)}`,
  );
  // Connections fail over in order: one "Unsafe" connection beside verified ones would let whoever can make the
  // verified ones fail (or present a wrong certificate) steer the host to the unverified one, a downgrade.
  const unsafe = n.connections.flatMap((c, i) => (c?.tlsSecurity.kind === "Unsafe" ? [i] : []));
  if (unsafe.length > 0 && unsafe.length < n.connections.filter((c) => c !== undefined).length) {
    problems.add(
      `nethsm.connections[${unsafe[0]!}].tls_security`,
      'is "Unsafe" while other connections verify the certificate: failover would downgrade to an unverified connection; use one TLS mode for all connections',
    );
  }
  if (n.mappings.length === 0) {
    problems.add("nethsm.mappings", "no user mappings");
    return;
  }
  const ms = n.mappings.flatMap((m, i) => (m ? [{ m, loc: `nethsm.mappings[${i}].${m.kind}` }] : []));

  if (!ms.some(({ m }) => m.kind === "admin" && namespaceOf(m.backendUser) === undefined)) {
    problems.add("nethsm.mappings", 'no system-wide administrator user (add a mapping admin = "<name>")');
  }

  // Backend users (a metrics user also listed among its own operator users gets its own message).
  const backend: (Occurrence & { metricsOf?: string })[] = [];
  const namespaceUses: Occurrence[] = [];
  for (const { m, loc } of ms) {
    const users = backendUserLocations(m, loc);
    for (const u of users) backend.push(u);
    for (const u of users) {
      const ns = namespaceOf(u.key as NetHsmUserId);
      if (ns !== undefined && !(m.kind === "admin")) namespaceUses.push({ key: ns, location: u.location });
    }
  }
  // The log key's Operator (signing_log.nethsm_user) is the writer's alone: no mapping may name it too.
  const logKey = parts.system?.signingLog?.key;
  const log = logKey?.kind === "nethsm" ? { user: logKey.user, keyId: logKey.keyId, loc: "system.signing_log" } : undefined;
  if (log !== undefined) backend.push({ key: log.user, location: `${log.loc}.nethsm_user` });
  const first = new Map<string, Occurrence & { metricsOf?: string }>();
  for (const u of backend) {
    const seen = first.get(u.key);
    if (seen === undefined) first.set(u.key, u);
    else if (seen.metricsOf !== undefined && seen.metricsOf === u.metricsOf) {
      problems.add(u.location, `the metrics user ${q(u.key)} is also one of its operator users`);
    } else problems.add(u.location, `duplicate backend user ID ${q(u.key)} (also used at ${seen.location})`);
  }

  const signing = ms.flatMap(({ m, loc }) => (m.kind === "signing" ? [{ m, loc, ns: namespaceOf(m.backendUser) }] : []));
  const keyIds = (ns: string | undefined): Occurrence[] =>
    signing.filter((s) => s.ns === ns).map((s) => ({ key: s.m.signingKeyId, location: `${s.loc}.signing_key_id` }));
  const tags = (ns: string | undefined): Occurrence[] =>
    signing.filter((s) => s.ns === ns).map((s) => ({ key: s.m.tag, location: `${s.loc}.tag` }));
  // The log key is system-wide and tagged with its own id: no signing key may share its id, no operator its tag.
  const logKeyUse: Occurrence[] = log === undefined ? [] : [{ key: log.keyId, location: `${log.loc}.nethsm_key` }];
  duplicates([...keyIds(undefined), ...logKeyUse], problems, (k) => `system-wide key ID ${q(k)}`);
  duplicates([...tags(undefined), ...logKeyUse], problems, (t) => `system-wide tag ${q(t)}${log?.keyId === t ? " (the log key is tagged with its own ID)" : ""}`);

  const adminNamespaces = new Set<string>();
  for (const { m } of ms) {
    const ns = m.kind === "admin" ? namespaceOf(m.backendUser) : undefined;
    if (ns !== undefined) adminNamespaces.add(ns);
  }
  const reported = new Set<string>();
  for (const use of namespaceUses) {
    if (!adminNamespaces.has(use.key) && !reported.has(use.key)) {
      reported.add(use.key);
      problems.add(use.location, `the namespace ${q(use.key)} has no administrator user (add a mapping admin = "${use.key}~<name>")`);
    }
  }
  const namespaces = [...new Set(signing.flatMap((s) => (s.ns === undefined ? [] : [s.ns])))];
  for (const ns of namespaces) duplicates(keyIds(ns), problems, (k) => `key ID ${q(k)} in namespace ${q(ns)}`);
  for (const ns of namespaces) duplicates(tags(ns), problems, (t) => `tag ${q(t)} in namespace ${q(ns)}`);

  // A key-certificates user reads each signing key with an Operator of the key's namespace.
  const keyNamespaces = [...new Set(signing.map((s) => s.ns))];
  for (const { m, loc } of ms) {
    if (m.kind !== "key_certificates") continue;
    const covered = new Set(m.backendUsers.map((u) => namespaceOf(u)));
    for (const ns of keyNamespaces) {
      if (covered.has(ns)) continue;
      problems.add(
        `${loc}.backend_users`,
        ns === undefined
          ? 'no system-wide operator user to read the system-wide signing keys (add "<name>")'
          : `no operator user in namespace ${q(ns)} to read its signing keys (add "${ns}~<name>")`,
      );
    }
  }
}

function backendUserLocations(m: NetHsmMapping, loc: string): (Occurrence & { metricsOf?: string })[] {
  switch (m.kind) {
    case "admin":
      return [{ key: m.backendUser, location: loc }];
    case "backup":
    case "signing":
      return [{ key: m.backendUser, location: `${loc}.backend_user` }];
    case "backup_upload":
    case "update_upload":
      return [];
    case "key_certificates":
      return m.backendUsers.map((u, j) => ({ key: u, location: `${loc}.backend_users[${j}]` }));
    case "metrics":
    case "hermetic_metrics":
      return [
        { key: m.backendUsers.metricsUser, location: `${loc}.backend_users.metrics_user`, metricsOf: loc },
        ...m.backendUsers.operatorUsers.map((u, j) => ({ key: u, location: `${loc}.backend_users.operator_users[${j}]`, metricsOf: loc })),
      ];
  }
}

function validatePkcs11(parts: ConfigParts, problems: Problems): void {
  const p = parts.pkcs11;
  if (p === undefined) return;
  if (p.mappings.length === 0) {
    problems.add("pkcs11.mappings", "no user mappings");
    return;
  }
  const ms = p.mappings.flatMap((m, i) => (m ? [{ m, loc: `pkcs11.mappings[${i}].${m.kind}` }] : []));
  const tokenKey = (t: TokenSelector): string => ("label" in t ? `label:${t.label}` : `serial:${t.serial}`);
  const admins = ms.filter((x): x is { m: Extract<Pkcs11Mapping, { kind: "admin" }>; loc: string } => x.m.kind === "admin");
  const signers = ms.filter((x): x is { m: Extract<Pkcs11Mapping, { kind: "signing" }>; loc: string } => x.m.kind === "signing");
  duplicates(
    admins.map(({ m, loc }) => ({ key: tokenKey(m.token), location: `${loc}.token` })),
    problems,
    (k) => `admin mapping for ${tokenName(admins.find((a) => tokenKey(a.m.token) === k)!.m.token)}`,
  );
  const adminTokens = new Set(admins.map(({ m }) => tokenKey(m.token)));
  const reported = new Set<string>();
  for (const { m, loc } of signers) {
    const k = tokenKey(m.token);
    if (!adminTokens.has(k) && !reported.has(k)) {
      reported.add(k);
      problems.add(`${loc}.token`, `${tokenName(m.token)} has no admin mapping (add a mapping admin = { token = … } for it)`);
    }
  }
  const keyName = (s: { m: Extract<Pkcs11Mapping, { kind: "signing" }> }): string =>
    "label" in s.m.key ? `key label ${q(s.m.key.label)}` : `key id ${q(s.m.key.id)}`;
  const first = new Map<string, string>();
  for (const s of signers) {
    const k = `${tokenKey(s.m.token)}\u0000${"label" in s.m.key ? `label:${s.m.key.label}` : `id:${s.m.key.id}`}`;
    const seen = first.get(k);
    if (seen === undefined) first.set(k, `${s.loc}.key`);
    else problems.add(`${s.loc}.key`, `duplicate ${keyName(s)} on ${tokenName(s.m.token)} (also used at ${seen})`);
  }
}

/** All semantic problems of (possibly partially parsed) config parts. */
export function validateParts(parts: ConfigParts): Problem[] {
  const problems = new Problems();
  validateSystem(parts, problems);
  const { users, keys } = accessOccurrences(parts);
  duplicates(users, problems, (u) => `system user ID ${q(u)}`);
  duplicates(keys, problems, (k) => `SSH public key ${q(abbreviateKey(k))}`);
  validateNetHsm(parts, problems);
  validatePkcs11(parts, problems);
  if (parts.nethsm?.mappings.some((m) => m?.kind === "signing")) {
    parts.pkcs11?.mappings.forEach((m, i) => {
      if (m?.kind !== "key_certificates") return;
      problems.add(
        `pkcs11.mappings[${i}].key_certificates`,
        "cannot read the certificates of the NetHSM signing keys (no NetHSM credentials); define key_certificates in [nethsm] with backend_users instead",
      );
    });
  }
  return problems.list;
}

/** All semantic problems of a complete Config. */
export function validateConfig(config: Config): Problem[] {
  return validateParts(partsOf(config));
}
