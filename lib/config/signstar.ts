/**
 * Signstar's released TOML configuration (signstar-config 0.2.0 `[[users]]` layout, documented in
 * `signstar-config/src/config/base.rs` at tag signstar-config/0.2.0, and its variants): detection, Signstar's own
 * checks (same order and messages as that file's `validate`), and conversion into the native model.
 *
 * Variants: V0 (`ssh_authorized_keys = [..]` lists on share/wireguard users, no secret-handling keys),
 * V1 (signstar-config 0.2.0), V2 (`[[connections]] nethsm = { url, tls_security }`), V3 (`key_id` beside `nethsm_user`).
 */
import type {
  AdminSecretHandling,
  AuthorizedKey,
  Config,
  KeyId,
  KeySetup,
  MetricsBackendUsers,
  NetHsmConnection,
  NetHsmMapping,
  NetHsmUserId,
  SecretHandling,
  SystemMapping,
  SystemUserId,
  Tag,
} from "./model.js";
import { metricsBackendUsers, MAX_MAPPINGS } from "./native.js";
import {
  authorizedKey,
  httpsUrl,
  keyId,
  namespaceOf,
  netHsmUserId,
  parseKeySetup,
  secretHandling,
  sshKeyData,
  systemUserId,
  systemWideUserId,
  tag,
  tlsSecurityParser,
} from "./primitives.js";
import { Problems, type Problem } from "./problems.js";
import { TableReader, complete, int, isTable, list, prim, str, variant, type Parser, type Table } from "./reader.js";
import { validateConfig } from "./validate.js";

/** True if a parsed TOML document is in Signstar's layout (top-level `users`/`connections`/`iteration`, no `[system]`). */
export function isSignstarLayout(root: unknown): boolean {
  return isTable(root) && !Object.hasOwn(root, "system") && ["users", "connections", "iteration"].some((k) => Object.hasOwn(root, k));
}

type ShareKind = "system_only_share_download" | "system_only_share_upload" | "system_only_wireguard_download";

type SUser =
  | { kind: "nethsm_only_admin"; loc: string; user: NetHsmUserId }
  | { kind: "system_nethsm_backup"; loc: string; nethsmUser: NetHsmUserId; systemUser: SystemUserId; keys: AuthorizedKey[] }
  | { kind: "system_nethsm_metrics"; loc: string; users: MetricsBackendUsers; systemUser: SystemUserId; keys: AuthorizedKey[] }
  | { kind: "hermetic_system_nethsm_metrics"; loc: string; users: MetricsBackendUsers; systemUser: SystemUserId; keys: AuthorizedKey[] }
  | {
      kind: "system_nethsm_operator_signing";
      loc: string;
      nethsmUser: NetHsmUserId;
      keyId: KeyId;
      keyIdLoc: string;
      keySetup: KeySetup;
      tag: Tag;
      systemUser: SystemUserId;
      keys: AuthorizedKey[];
    }
  | { kind: ShareKind; loc: string; systemUser: SystemUserId; keys: AuthorizedKey[]; listForm: boolean };

const USER_KINDS = [
  "nethsm_only_admin",
  "system_nethsm_backup",
  "system_nethsm_metrics",
  "hermetic_system_nethsm_metrics",
  "system_nethsm_operator_signing",
  "system_only_share_download",
  "system_only_share_upload",
  "system_only_wireguard_download",
] as const;

/** Canonical JSON (sorted keys) for Signstar's set semantics: exactly identical entries collapse. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isTable(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  return JSON.stringify(v instanceof Date ? v.toISOString() : v);
}

/** Indexes of the entries kept after collapsing identical ones (first occurrence wins). */
function distinct(xs: readonly unknown[]): number[] {
  const seen = new Set<string>();
  const keep: number[] = [];
  xs.forEach((x, i) => {
    const c = canonical(x);
    if (!seen.has(c)) {
      seen.add(c);
      keep.push(i);
    }
  });
  return keep;
}

type UserKind = Exclude<SUser["kind"], "nethsm_only_admin">;
/** Reads the rest of one `[[users]]` entry of a kind, after its system_user (problems go to `p`). */
type UserReader = (kind: UserKind, t: TableReader, loc: string, systemUser: SystemUserId | undefined, p: Problems) => SUser | undefined;

/** The one `ssh_authorized_key` of V1–V3 entries. */
function oneKey(t: TableReader): AuthorizedKey[] | undefined {
  const k = t.required("ssh_authorized_key", prim(authorizedKey));
  return k === undefined ? undefined : [k];
}

const readBackupUser: UserReader = (kind, t, loc, systemUser) => {
  const nethsmUser = t.required("nethsm_user", prim(systemWideUserId));
  const keys = oneKey(t);
  return nethsmUser && systemUser && keys && kind === "system_nethsm_backup" ? { kind, loc, nethsmUser, systemUser, keys } : undefined;
};

const readMetricsUser: UserReader = (kind, t, loc, systemUser) => {
  const users = t.required("nethsm_users", metricsBackendUsers);
  if (kind === "hermetic_system_nethsm_metrics") return users && systemUser ? { kind, loc, users, systemUser, keys: [] } : undefined;
  const keys = oneKey(t);
  return users && systemUser && keys && kind === "system_nethsm_metrics" ? { kind, loc, users, systemUser, keys } : undefined;
};

/** key_id: V3 beside nethsm_user, V0–V2 inside nethsm_key_setup (never both). */
const readSigningUser: UserReader = (kind, t, loc, systemUser, p) => {
  const nethsmUser = t.required("nethsm_user", prim(netHsmUserId));
  const theTag = t.required("tag", prim(tag));
  const keys = oneKey(t);
  const rawSetup = t.take("nethsm_key_setup");
  const rawKeyId = t.take("key_id");
  const setupLoc = t.at("nethsm_key_setup");
  let id: KeyId | undefined;
  let keyIdLoc = t.at("key_id");
  let setup: KeySetup | undefined;
  if (rawSetup === undefined) p.add(setupLoc, "is required but missing");
  else if (!isTable(rawSetup)) p.add(setupLoc, "expected a table");
  else {
    const nestedId = Object.hasOwn(rawSetup, "key_id");
    if (nestedId && rawKeyId !== undefined) {
      p.add(`${setupLoc}.key_id`, "key_id is given twice (here and beside nethsm_user); keep one");
    } else if (nestedId) {
      keyIdLoc = `${setupLoc}.key_id`;
      id = prim(keyId)(rawSetup["key_id"], keyIdLoc, p);
    } else if (rawKeyId === undefined) {
      p.add(keyIdLoc, "is required but missing");
    } else {
      id = prim(keyId)(rawKeyId, keyIdLoc, p);
    }
    const withoutId: Table = { ...rawSetup };
    delete withoutId["key_id"];
    setup = parseKeySetup(withoutId, setupLoc, p);
  }
  if (!(nethsmUser && theTag && keys && systemUser && id && setup) || kind !== "system_nethsm_operator_signing") return undefined;
  return { kind, loc, nethsmUser, keyId: id, keyIdLoc, keySetup: setup, tag: theTag, systemUser, keys };
};

/** V0 lists keys (`ssh_authorized_keys`, each once); V1+ has one `ssh_authorized_key`. */
const readShareUser: UserReader = (kind, t, loc, systemUser, p) => {
  let keys: AuthorizedKey[] | undefined;
  const listForm = t.has("ssh_authorized_keys");
  if (listForm && t.has("ssh_authorized_key")) {
    t.take("ssh_authorized_key");
    t.take("ssh_authorized_keys");
    p.add(t.at("ssh_authorized_keys"), "use either ssh_authorized_key or ssh_authorized_keys, not both");
  } else if (listForm) {
    keys = complete(t.required("ssh_authorized_keys", list(prim(authorizedKey), { nonEmpty: true, max: 64 })));
    keys?.forEach((k, i) => {
      if (keys!.findIndex((o) => sshKeyData(o) === sshKeyData(k)) !== i) {
        p.add(`${t.at("ssh_authorized_keys")}[${i}]`, "the same public key is listed twice");
      }
    });
  } else keys = oneKey(t);
  const share = kind === "system_only_share_download" || kind === "system_only_share_upload" || kind === "system_only_wireguard_download";
  return systemUser && keys && share ? { kind, loc, systemUser, keys, listForm } : undefined;
};

const USER_READERS: Readonly<Record<UserKind, UserReader>> = {
  system_nethsm_backup: readBackupUser,
  system_nethsm_metrics: readMetricsUser,
  hermetic_system_nethsm_metrics: readMetricsUser,
  system_nethsm_operator_signing: readSigningUser,
  system_only_share_download: readShareUser,
  system_only_share_upload: readShareUser,
  system_only_wireguard_download: readShareUser,
};

function readUser(v: unknown, loc: string, p: Problems): SUser | undefined {
  const m = variant(v, loc, p, USER_KINDS);
  if (m === undefined) return undefined;
  if (m.kind === "nethsm_only_admin") {
    const user = prim(netHsmUserId)(m.value, m.location, p);
    return user === undefined ? undefined : { kind: m.kind, loc: m.location, user };
  }
  const t = TableReader.open(m.value, m.location, p);
  if (t === undefined) return undefined;
  const before = p.list.length;
  const systemUser = t.required("system_user", prim(systemUserId));
  const result = USER_READERS[m.kind](m.kind, t, m.location, systemUser, p);
  t.finish();
  return p.list.length === before ? result : undefined;
}

const signstarConnection: Parser<NetHsmConnection> = (v, loc, p) => {
  // V2+: { nethsm = { url, tls_security } }; V0/V1: { url, tls_security }
  let body = v;
  let bodyLoc = loc;
  if (isTable(v) && Object.hasOwn(v, "nethsm")) {
    const tagged = variant(v, loc, p, ["nethsm"] as const);
    if (tagged === undefined) return undefined;
    body = tagged.value;
    bodyLoc = tagged.location;
  }
  const t = TableReader.open(body, bodyLoc, p);
  if (t === undefined) return undefined;
  const url = t.required("url", prim(httpsUrl));
  const tlsSecurity = t.required("tls_security", tlsSecurityParser("Fingerprints"));
  t.finish();
  return url === undefined || tlsSecurity === undefined ? undefined : { url, tlsSecurity };
};

const SIGNSTAR_ADMIN: Parser<"plaintext" | "systemd-creds" | "shamirs-secret-sharing"> = (v, loc, p) => {
  const s = str(v, loc, p);
  if (s === undefined) return undefined;
  if (s === "plaintext" || s === "systemd-creds" || s === "shamirs-secret-sharing") return s;
  p.add(loc, `unknown variant ${JSON.stringify(s)} (expected plaintext, systemd-creds or shamirs-secret-sharing)`);
  return undefined;
};

interface Parsed {
  iteration: number;
  admin: "plaintext" | "systemd-creds" | "shamirs-secret-sharing";
  nonAdmin: SecretHandling;
  connections: NetHsmConnection[];
  users: SUser[];
}

function readSignstar(root: unknown, p: Problems): Parsed | undefined {
  const top = TableReader.open(root, "", p);
  if (top === undefined) return undefined;
  const iteration = top.required("iteration", int(0, 0xffff_ffff));
  const rawUsers = top.take("users");
  const rawConnections = top.take("connections");
  const usersLoc = top.at("users");
  let users: SUser[] | undefined;
  if (rawUsers === undefined) p.add(usersLoc, "is required but missing");
  else if (!Array.isArray(rawUsers)) p.add(usersLoc, "expected an array of tables ([[users]])");
  else if (rawUsers.length > MAX_MAPPINGS) p.add(usersLoc, `more than ${MAX_MAPPINGS} entries`);
  else users = complete(distinct(rawUsers).map((i) => readUser(rawUsers[i], `${usersLoc}[${i}]`, p)));
  let connections: NetHsmConnection[] | undefined;
  if (rawConnections === undefined) p.add(top.at("connections"), "is required but missing");
  else if (!Array.isArray(rawConnections)) p.add(top.at("connections"), "expected an array of tables ([[connections]])");
  else if (rawConnections.length > 64) p.add(top.at("connections"), "more than 64 entries");
  else {
    connections = complete(distinct(rawConnections).map((i) => signstarConnection(rawConnections[i], `connections[${i}]`, p)));
  }
  // V0 files have no secret-handling keys (and always used SSS): default only there.
  const v0 = users?.some((u) => "listForm" in u && u.listForm) ?? false;
  const admin = v0 && !top.has("admin_secret_handling") ? "shamirs-secret-sharing" : top.required("admin_secret_handling", SIGNSTAR_ADMIN);
  const nonAdmin = v0 && !top.has("non_admin_secret_handling") ? "systemd-creds" : top.required("non_admin_secret_handling", prim(secretHandling));
  if (v0) {
    top.take("admin_secret_handling");
    top.take("non_admin_secret_handling");
  }
  top.finish();
  if (!p.empty || iteration === undefined || admin === undefined || nonAdmin === undefined || !users || !connections) return undefined;
  return { iteration, admin, nonAdmin, connections, users };
}

function duplicatesFirstWins(items: { key: string; location: string }[], p: Problems, message: (key: string) => string): void {
  const seen = new Set<string>();
  for (const it of items) {
    if (seen.has(it.key)) p.add(it.location, message(it.key));
    seen.add(it.key);
  }
}

type WithSystemUser = Exclude<SUser, { kind: "nethsm_only_admin" }>;
type Signer = Extract<SUser, { kind: "system_nethsm_operator_signing" }>;

/** 1. system users are unique. */
function uniqueSystemUsers(users: readonly WithSystemUser[], p: Problems): void {
  duplicatesFirstWins(
    users.map((u) => ({ key: u.systemUser, location: `${u.loc}.system_user` })),
    p,
    (id) => `The system user ID ${id} is used more than once!`,
  );
}

/** 2. NetHSM users are unique across all mappings (a metrics user also listed as operator counts). */
function uniqueNetHsmUsers(users: readonly SUser[], p: Problems): void {
  const nethsmUsers: { key: string; location: string }[] = [];
  for (const u of users) {
    if (u.kind === "nethsm_only_admin") nethsmUsers.push({ key: u.user, location: u.loc });
    else if (u.kind === "system_nethsm_backup" || u.kind === "system_nethsm_operator_signing") {
      nethsmUsers.push({ key: u.nethsmUser, location: `${u.loc}.nethsm_user` });
    } else if (u.kind === "system_nethsm_metrics" || u.kind === "hermetic_system_nethsm_metrics") {
      nethsmUsers.push({ key: u.users.metricsUser, location: `${u.loc}.nethsm_users.metrics_user` });
      u.users.operatorUsers.forEach((o, j) => nethsmUsers.push({ key: o, location: `${u.loc}.nethsm_users.operator_users[${j}]` }));
    }
  }
  duplicatesFirstWins(nethsmUsers, p, (id) => `The NetHsm user ID ${id} is used more than once!`);
}

/** 3. a system-wide administrator exists; 4. so does one for every namespace a non-admin user is in. */
function administratorsExist(users: readonly SUser[], p: Problems): void {
  const admins = users.flatMap((u) => (u.kind === "nethsm_only_admin" ? [u.user] : []));
  if (!admins.some((a) => namespaceOf(a) === undefined)) p.add("users", "No user in the Administrator role exists (system-wide)");
  const adminNs = new Set(admins.map(namespaceOf).filter((n) => n !== undefined));
  const used = new Set<string>();
  for (const u of users) {
    const ids =
      u.kind === "system_nethsm_operator_signing"
        ? [u.nethsmUser]
        : u.kind === "system_nethsm_metrics" || u.kind === "hermetic_system_nethsm_metrics"
          ? [u.users.metricsUser, ...u.users.operatorUsers]
          : [];
    for (const id of ids) {
      const ns = namespaceOf(id);
      if (ns !== undefined && !adminNs.has(ns)) used.add(ns);
    }
  }
  if (used.size > 0) p.add("users", `No user in the Administrator role exists (${[...used].sort().join(", ")})`);
}

/** 5. share users exist exactly when the admin secret is shared (Shamir's Secret Sharing). */
function shareUsersMatchHandling(c: Parsed, p: Problems): void {
  const downloads = c.users.filter((u): u is Extract<SUser, { kind: ShareKind }> => u.kind === "system_only_share_download");
  const uploads = c.users.filter((u): u is Extract<SUser, { kind: ShareKind }> => u.kind === "system_only_share_upload");
  if (c.admin === "shamirs-secret-sharing") {
    if (downloads.length === 0) p.add("users", "No system user for downloading shares of a shared secret exists.");
    if (uploads.length === 0) p.add("users", "No system user for uploading shares of a shared secret exists.");
  } else if (downloads.length + uploads.length > 0) {
    const names = [...downloads, ...uploads].map((u) => `SystemUserId(${JSON.stringify(u.systemUser)})`);
    p.add(
      "users",
      `Shamir's Secret Sharing not used for administrative secret handling, but the following users are setup to handle shares: [${names.join(", ")}]`,
    );
  }
}

/**
 * 6. SSH public keys (key data and comment, as ssh_key::PublicKey's Eq) are unique among all users except share
 * downloaders, and among all except share uploaders, so one downloader and one uploader may share a key.
 */
function uniqueSshKeys(users: readonly WithSystemUser[], p: Problems): void {
  const keyOccurrences = (skip: ShareKind): { key: string; location: string }[] =>
    users
      .filter((u) => u.kind !== skip)
      .flatMap((u) =>
        u.keys.map((k, j) => ({
          key: `${sshKeyData(k)}${k.comment === "" ? "" : ` ${k.comment}`}`,
          location: "listForm" in u && u.listForm ? `${u.loc}.ssh_authorized_keys[${j}]` : `${u.loc}.ssh_authorized_key`,
        })),
      );
  const keyProblems = new Problems();
  const message = (k: string): string => `The SSH public key "${k}" is used more than once!`;
  duplicatesFirstWins(keyOccurrences("system_only_share_download"), keyProblems, message);
  duplicatesFirstWins(keyOccurrences("system_only_share_upload"), keyProblems, message);
  const seenLoc = new Set<string>();
  for (const kp of keyProblems.list) {
    if (!seenLoc.has(kp.location)) p.add(kp.location, kp.message);
    seenLoc.add(kp.location);
  }
}

/** 7. key IDs and 8. tags are unique per scope (system-wide, or one namespace); key ID problems come first. */
function uniqueKeyIdsAndTags(users: readonly SUser[], p: Problems): void {
  const signers = users.filter((u): u is Signer => u.kind === "system_nethsm_operator_signing");
  const scope = (ns: string | undefined): string => (ns === undefined ? "system-wide" : `namespace: "${ns}"`);
  const keyIdProblems = new Problems();
  const tagProblems = new Problems();
  for (const ns of [undefined, ...new Set(signers.map((s) => namespaceOf(s.nethsmUser)).filter((n) => n !== undefined))]) {
    const inScope = signers.filter((s) => namespaceOf(s.nethsmUser) === ns);
    duplicatesFirstWins(
      inScope.map((s) => ({ key: s.keyId, location: s.keyIdLoc })),
      keyIdProblems,
      (k) => `The key ID "${k}" (${scope(ns)}) is used more than once`,
    );
    duplicatesFirstWins(
      inScope.map((s) => ({ key: s.tag, location: `${s.loc}.tag` })),
      tagProblems,
      (t) => `The tag ${t} (${scope(ns)}) is used more than once`,
    );
  }
  p.list.push(...keyIdProblems.list, ...tagProblems.list);
}

/** Signstar 0.2.0's `validate`, in its order; every failure is listed, the first is the one Signstar reports. */
function signstarChecks(c: Parsed, p: Problems): void {
  const withSystemUser = c.users.filter((u): u is WithSystemUser => u.kind !== "nethsm_only_admin");
  uniqueSystemUsers(withSystemUser, p);
  uniqueNetHsmUsers(c.users, p);
  administratorsExist(c.users, p);
  shareUsersMatchHandling(c, p);
  uniqueSshKeys(withSystemUser, p);
  uniqueKeyIdsAndTags(c.users, p);
}

export interface Conversion {
  /** The native configuration (may violate native rules listed in `problems`). */
  readonly config: Config;
  /** Native-layout problems of the converted configuration (locations refer to the converted file). */
  readonly problems: readonly Problem[];
}

export const AFTER_CONVERSION = " (after conversion)";

function toNative(c: Parsed): Conversion {
  const conversionProblems: Problem[] = [];
  // Share users: a downloader and an uploader with the same key data form one share holder (named after the
  // downloader); every other share user becomes a share holder of its own. File order is kept.
  const pairedUploads = new Set<SUser>();
  for (const d of c.users) {
    if (d.kind !== "system_only_share_download") continue;
    const partner = c.users.find(
      (u) =>
        u.kind === "system_only_share_upload" &&
        !pairedUploads.has(u) &&
        u.keys.some((k) => d.keys.some((dk) => sshKeyData(k) === sshKeyData(dk))),
    );
    if (partner !== undefined) pairedUploads.add(partner);
  }
  const system: SystemMapping[] = [];
  for (const u of c.users) {
    if (u.kind !== "system_only_wireguard_download" && u.kind !== "system_only_share_download" && u.kind !== "system_only_share_upload") {
      continue;
    }
    if (u.keys.length !== 1) {
      conversionProblems.push({
        location: `${u.loc}.ssh_authorized_keys`,
        message: `the native layout has one SSH key per user; ${u.systemUser} lists ${u.keys.length} (split it into one user per key)`,
      });
    }
    const key = u.keys[0]!;
    if (u.kind === "system_only_wireguard_download") system.push({ kind: "wire_guard_download", systemUser: u.systemUser, sshAuthorizedKey: key });
    else if (!pairedUploads.has(u)) system.push({ kind: "share_holder", systemUser: u.systemUser, sshAuthorizedKey: key });
  }
  const holders = system.filter((m) => m.kind === "share_holder").length;
  let admin: AdminSecretHandling;
  if (c.admin === "shamirs-secret-sharing") {
    // Signstar's TOML format has no share counts: every shareholder gets a share; threshold min(3, holders).
    admin = { kind: "shamirs-secret-sharing", numberOfShares: holders, threshold: Math.min(3, holders) };
    if (holders < 2) {
      conversionProblems.push({
        location: "system.admin_secret_handling",
        message: `Shamir's Secret Sharing needs at least 2 shareholders; the Signstar configuration has ${holders} (a share-download and a share-upload user with the same key count as one)`,
      });
    }
  } else admin = { kind: c.admin };

  const nethsmMappings: NetHsmMapping[] = [];
  for (const u of c.users) {
    switch (u.kind) {
      case "nethsm_only_admin":
        nethsmMappings.push({ kind: "admin", backendUser: u.user });
        break;
      case "system_nethsm_backup":
        nethsmMappings.push({ kind: "backup", backendUser: u.nethsmUser, systemUser: u.systemUser, sshAuthorizedKey: u.keys[0]! });
        break;
      case "system_nethsm_metrics":
        nethsmMappings.push({ kind: "metrics", backendUsers: u.users, systemUser: u.systemUser, sshAuthorizedKey: u.keys[0]! });
        break;
      case "hermetic_system_nethsm_metrics":
        nethsmMappings.push({ kind: "hermetic_metrics", backendUsers: u.users, systemUser: u.systemUser });
        break;
      case "system_nethsm_operator_signing":
        nethsmMappings.push({
          kind: "signing",
          backendUser: u.nethsmUser,
          signingKeyId: u.keyId,
          keySetup: u.keySetup,
          tag: u.tag,
          systemUser: u.systemUser,
          sshAuthorizedKey: u.keys[0]!,
        });
        break;
      default:
        break;
    }
  }
  const config: Config = {
    system: { iteration: c.iteration, adminSecretHandling: admin, nonAdminSecretHandling: c.nonAdmin, mappings: system },
    ...(c.connections.length > 0 || nethsmMappings.length > 0 ? { nethsm: { connections: c.connections, mappings: nethsmMappings } } : {}),
  };
  const native = [...conversionProblems, ...validateConfig(config)].map((p) => ({ location: `${p.location}${AFTER_CONVERSION}`, message: p.message }));
  return { config, problems: native };
}

/**
 * Reads a Signstar-layout document. Returns `problems` (Signstar's verdict: structure first, then its checks in
 * its order) when Signstar would reject the file; otherwise the converted configuration with its native problems.
 */
export function convertSignstar(root: unknown): { rejected: readonly Problem[] } | Conversion {
  const p = new Problems();
  const parsed = readSignstar(root, p);
  if (parsed === undefined) return { rejected: p.list };
  signstarChecks(parsed, p);
  if (!p.empty) return { rejected: p.list };
  return toNative(parsed);
}
