/**
 * NetHSM part of signstar-configure (as Signstar's NetHSM sync, `signstar-config/src/nethsm/backend.rs`, archlinux/signstar d6ad4e9), as the default
 * R-Administrator `admin`:
 *   Unprovisioned → provision (unlock passphrase, admin passphrase, time); Locked → unlock; backup passphrase;
 *   system-wide administrators; namespace administrators then namespaces; every non-admin user (backup,
 *   metrics, metrics operators, signing operators, key-certificate operators) created or given a new
 *   passphrase (crash-safe: ./secret-rotation.ts), signing operators tagged; keys per key_setup with their
 *   tag, and an OpenPGP certificate made by the key itself (through the operator) when none is stored.
 *   With signing_log on the NetHSM: the log key (Ed25519, tagged with its own id, no certificate) and its Operator
 *   (that tag alone, the passphrase for signstar-log only), after checking the key there against log.vkey.
 *   Namespaced users and keys are managed by that namespace's N-Administrator.
 *   Users and keys no longer in the config are deleted only when the config iteration increased.
 * reconcileNetHsm runs these as steps, in this order, and returns what the backup needs: after a successful run
 * backupNetHsm stores an encrypted backup in the backups directory with the backup user's passphrase of this run
 * (needs a configured backup user; the backup passphrase is part of the admin credentials).
 */
import { dirname, join } from "node:path";
import { LOG_KEY_SETUP, LOG_WRITER_USER, logKeyName, type Config, type KeySetup, type LogKeyPlace, type NetHsmConnection, type NetHsmMapping } from "../config/model.js";
import { ExitCode } from "../errors.js";
import { formatVerifierKey } from "../tlog/note.js";
import { checkRecordedVerifierKey } from "./signing-log.js";
import { requireUser, type PasswdEntry } from "../os/accounts.js";
import type { AdminCredentials } from "../secrets/admin-credentials.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { generatePassphrase } from "../secrets/passphrase.js";
import { ensureDir } from "../os/fs.js";
import {
  NetHsmAdministration,
  NetHsmHttpError,
  openNetHsmClient,
  openNetHsmSigningKey,
  publicKeyOf,
  type Credentials,
  type NetHsmClient,
  type UserRole,
} from "../backends/nethsm/index.js";
import { act, ConfigureError, info, requireAdmin, type RunContext } from "./context.js";
import { crashPoint } from "./crash.js";
import { hostLayout } from "../layout/host-layout.js";
import { commitNextSecret, writeNextSecret, type RotationTarget, type SecretCopy } from "./secret-rotation.js";
import { takeUploadedBackup, takeUploadedUpdate, type BackupSummary, type Uploaded } from "../spool/uploads.js";

interface WantedUser {
  readonly id: string;
  readonly role: UserRole;
  readonly holders: string[];
  tag?: string;
}

interface WantedKey {
  readonly id: string;
  readonly namespace: string | undefined;
  readonly setup: KeySetup;
  readonly tag: string;
  readonly operator: string;
  /** The signing log's key: no OpenPGP certificate (it signs checkpoints only, docs/tlog.md). */
  readonly logKey?: true;
}

/** The signing log's key when it lives on the NetHSM (signing_log.nethsm_user / nethsm_key). */
type NetHsmLogKey = Extract<LogKeyPlace, { kind: "nethsm" }> & { readonly origin: string };

function netHsmLogKey(config: Config): NetHsmLogKey | undefined {
  const setup = config.system.signingLog;
  return setup?.key.kind === "nethsm" ? { ...setup.key, origin: setup.origin } : undefined;
}

function nsOf(id: string): string | undefined {
  const i = id.indexOf("~");
  return i < 0 ? undefined : id.slice(0, i);
}

function wanted(mappings: readonly NetHsmMapping[], log: NetHsmLogKey | undefined): { users: Map<string, WantedUser>; keys: WantedKey[] } {
  const users = new Map<string, WantedUser>();
  const add = (id: string, role: UserRole, holder: string, tag?: string) => {
    const u = users.get(id) ?? { id, role, holders: [] };
    if (!u.holders.includes(holder)) u.holders.push(holder);
    if (tag !== undefined) u.tag = tag;
    users.set(id, u);
  };
  const keys: WantedKey[] = [];
  for (const m of mappings) {
    switch (m.kind) {
      case "backup":
        add(m.backendUser, "Backup", m.systemUser);
        break;
      case "metrics":
      case "hermetic_metrics":
        add(m.backendUsers.metricsUser, "Metrics", m.systemUser);
        for (const o of m.backendUsers.operatorUsers) add(o, "Operator", m.systemUser);
        break;
      case "signing":
        add(m.backendUser, "Operator", m.systemUser, m.tag);
        keys.push({ id: m.signingKeyId, namespace: nsOf(m.backendUser), setup: m.keySetup, tag: m.tag, operator: m.backendUser });
        break;
      case "key_certificates":
        for (const o of m.backendUsers) add(o, "Operator", m.systemUser);
        break;
      default:
        break;
    }
  }
  if (log !== undefined) {
    // The log key is tagged with its own id and its Operator carries that tag alone: no signing operator (whose
    // passphrase a signing user holds) may sign checkpoints (validation keeps ids and tags apart).
    add(log.user, "Operator", LOG_WRITER_USER, log.keyId);
    keys.push({ id: log.keyId, namespace: undefined, setup: LOG_KEY_SETUP, tag: log.keyId, operator: log.user, logKey: true });
  }
  return { users, keys };
}

function adminPassphrase(creds: AdminCredentials, name: string): string {
  const n = creds.nethsm;
  const a = [...(n?.administrators ?? []), ...(n?.namespaceAdministrators ?? [])].find((x) => x.name === name);
  if (a === undefined) throw new ConfigureError(`the admin credentials have no passphrase for NetHSM administrator "${name}"`);
  return a.passphrase;
}

function isHttp(error: unknown, status: number): boolean {
  return error instanceof NetHsmHttpError && error.status === status;
}

/** A client for one call: no credentials (state, provisioning, unlock) or a user's (the backup). */
async function withClient<T>(conn: readonly NetHsmConnection[], credentials: Credentials | undefined, call: (client: NetHsmClient) => Promise<T>): Promise<T> {
  const client = openNetHsmClient(conn, credentials);
  try {
    return await call(client);
  } finally {
    client.close();
  }
}

/** The verifier key of the log key on the NetHSM (public parts: any administrator reads them), or undefined when it is not there yet. */
async function logVerifierKey(admin: NetHsmClient, log: NetHsmLogKey): Promise<string | undefined> {
  if (!(await admin.listKeys()).includes(log.keyId)) return undefined;
  const pk = publicKeyOf(await admin.getKey(log.keyId), log.keyId);
  if (pk.kind !== "ed25519") throw new ConfigureError(`the signing log ${logKeyName(log)} is not an Ed25519 key`, ExitCode.Config);
  return formatVerifierKey(log.origin, pk.a);
}

/**
 * What the NetHSM part of a run leaves for the steps after it: the backup user and the passphrase set in this run,
 * the log key's verifier key (signing_log.nethsm_key) for log.vkey.
 */
export interface NetHsmReconciled {
  readonly backupUser?: { readonly user: string; readonly passphrase: string };
  /** Uploads applied in this run: removed after the run succeeded (a crashed run applies them again). */
  readonly applied?: readonly { consume(): Promise<void> }[];
  readonly logVerifierKey?: string;
}

/** The upload users of a role with their uids (the upload must be owned by one of them). */
async function uploadUsers(ctx: RunContext, kind: "backup_upload" | "update_upload"): Promise<{ name: string; uid: number }[]> {
  const out: { name: string; uid: number }[] = [];
  for (const m of ctx.config.nethsm?.mappings ?? []) {
    if (m.kind === kind) out.push({ name: m.systemUser, uid: (await requireUser(m.systemUser)).uid });
  }
  return out;
}

/** The newest uploaded backup (signstar-upload-backup), if any; structure checked, the device checks the rest. */
export async function uploadedBackup(ctx: RunContext): Promise<Uploaded<BackupSummary> | undefined> {
  const users = await uploadUsers(ctx, "backup_upload");
  return users.length === 0 ? undefined : takeUploadedBackup({ users, root: ctx.root });
}

/**
 * Restores an uploaded backup with the admin credentials' backup passphrase: on an Unprovisioned device a full
 * restore (the device is then Locked and is unlocked with the unlock passphrase), on an Operational one a
 * partial restore as `admin` (users, keys, namespaces; Locked when the backup has another domain key). The
 * reconciliation that follows brings users, passphrases and keys back in line with the config.
 */
async function restoreUploadedBackup(ctx: RunContext, conn: readonly NetHsmConnection[], state: string, backup: Uploaded<BackupSummary>): Promise<string> {
  const creds = requireAdmin(ctx, "restoring the uploaded NetHSM backup");
  const n = creds.nethsm;
  if (n === undefined) throw new ConfigureError("the admin credentials have no NetHSM part");
  const what = `NetHSM: restore the backup uploaded by ${backup.user} at ${backup.uploadedAt.toISOString()} (sha256 ${backup.sha256.slice(0, 16)}…, ${state === "Unprovisioned" ? "full restore" : "partial restore"})`;
  if (ctx.dryRun) {
    ctx.out(`plan: ${what}`);
    return state;
  }
  try {
    if (state === "Unprovisioned") {
      await withClient(conn, undefined, (c) => c.restore(backup.bytes, { backupPassphrase: n.backupPassphrase, systemTime: ctx.now() }));
    } else {
      await withClient(conn, { user: "admin", passphrase: adminPassphrase(creds, "admin") }, (c) => c.restore(backup.bytes, { backupPassphrase: n.backupPassphrase, systemTime: ctx.now() }));
    }
  } catch (error) {
    if (error instanceof NetHsmHttpError && error.status === 400) {
      throw new ConfigureError(`the NetHSM refused the backup uploaded by ${backup.user} (${error.message}); it stays uploaded, nothing else was changed`, 7);
    }
    throw error;
  }
  ctx.out(`done: ${what}`);
  crashPoint("apply:after-restore", ctx.env);
  const after = await withClient(conn, undefined, (c) => c.state());
  if (after === "Locked") {
    await act(ctx, "NetHSM: unlock (after the restore)", async () => withClient(conn, undefined, (c) => c.unlock(n.unlockPassphrase)));
  }
  return withClient(conn, undefined, (c) => c.state());
}

/**
 * Applies an uploaded update image (signstar-upload-update) as `admin`: upload, then commit; any failure
 * cancels the pending update. An update left uploaded by a crashed run (409) is cancelled and uploaded again.
 */
async function applyUploadedUpdate(ctx: RunContext, conn: readonly NetHsmConnection[], creds: AdminCredentials): Promise<{ consume(): Promise<void> } | undefined> {
  const users = await uploadUsers(ctx, "update_upload");
  if (users.length === 0) return undefined;
  const update = await takeUploadedUpdate({ users, root: ctx.root });
  if (update === undefined) return undefined;
  let notes = "";
  await act(ctx, `NetHSM: apply the update ${update.info.version} uploaded by ${update.user} (upload, commit; cancel on failure)`, async () => {
    await withClient(conn, { user: "admin", passphrase: adminPassphrase(creds, "admin") }, async (c) => {
      try {
        try {
          notes = await c.uploadUpdate(update.bytes);
        } catch (error) {
          if (!isHttp(error, 409)) throw error;
          await c.cancelUpdate();
          notes = await c.uploadUpdate(update.bytes);
        }
        crashPoint("apply:after-update-upload", ctx.env);
        await c.commitUpdate();
      } catch (error) {
        await c.cancelUpdate().catch(() => undefined);
        throw new ConfigureError(`the NetHSM did not apply the update uploaded by ${update.user} (${error instanceof Error ? error.message : String(error)}); the pending update was cancelled and the upload kept`, 7);
      }
    });
  });
  if (notes !== "") info(ctx, `NetHSM: release notes of ${update.info.version}: ${notes.split("\n")[0]!.slice(0, 200)}`);
  return ctx.dryRun ? undefined : update;
}

/** Unprovisioned → provision, Locked → unlock; returns the state found. Other states need service. */
async function bringOperational(ctx: RunContext, conn: readonly NetHsmConnection[]): Promise<string> {
  const state = await withClient(conn, undefined, (c) => c.state());
  info(ctx, `NetHSM state: ${state}`);
  if (state === "Unprovisioned") {
    const creds = requireAdmin(ctx, "provisioning the NetHSM");
    await act(ctx, "NetHSM: provision (unlock passphrase and admin passphrase from the admin credentials)", async () => {
      await withClient(conn, undefined, (c) =>
        c.provision({ unlockPassphrase: creds.nethsm!.unlockPassphrase, adminPassphrase: adminPassphrase(creds, "admin"), systemTime: ctx.now() }),
      );
      crashPoint("nethsm:after-provision", ctx.env);
    });
  } else if (state === "Locked") {
    const creds = requireAdmin(ctx, "unlocking the NetHSM");
    await act(ctx, "NetHSM: unlock", async () => withClient(conn, undefined, (c) => c.unlock(creds.nethsm!.unlockPassphrase)));
  } else if (state !== "Operational") {
    throw new ConfigureError(`the NetHSM is in state ${state}; it needs service before signstar-configure can continue`, 7);
  }
  return state;
}

/**
 * The administrators' clients: `admin` (R-Administrator) for system-wide users and keys, each namespace's
 * N-Administrator (from the admin credentials) for that namespace's, opened when first needed.
 */
class Administrators {
  private readonly byNamespace = new Map<string, NetHsmClient>();
  constructor(
    readonly system: NetHsmClient,
    private readonly conn: readonly NetHsmConnection[],
    private readonly creds: NonNullable<AdminCredentials["nethsm"]>,
  ) {}

  of(ns: string | undefined): NetHsmClient {
    if (ns === undefined) return this.system;
    let client = this.byNamespace.get(ns);
    if (!client) {
      const a = this.creds.namespaceAdministrators.find((x) => nsOf(x.name) === ns);
      if (a === undefined) throw new ConfigureError(`namespace ${ns} has no administrator in the admin credentials`);
      client = openNetHsmClient(this.conn, { user: a.name, passphrase: a.passphrase });
      this.byNamespace.set(ns, client);
    }
    return client;
  }

  close(): void {
    this.system.close();
    for (const c of this.byNamespace.values()) c.close();
  }
}

/** The backup passphrase (part of the admin credentials) is set once, after provisioning. */
async function ensureBackupPassphrase(ctx: RunContext, admin: NetHsmClient, backupPassphrase: string): Promise<void> {
  try {
    await admin.setBackupPassphrase(backupPassphrase, backupPassphrase);
  } catch (error) {
    if (!isHttp(error, 403) && !isHttp(error, 400)) throw error;
    await act(ctx, "NetHSM: set the backup passphrase", async () => admin.setBackupPassphrase(backupPassphrase, ""));
  }
}

/** R-Administrators (admin itself exists since provisioning), then namespace administrators and their namespaces. */
async function ensureAdministrators(ctx: RunContext, admin: NetHsmClient, n: NonNullable<AdminCredentials["nethsm"]>, existing: ReadonlySet<string>): Promise<void> {
  for (const a of n.administrators) {
    if (a.name === "admin" || existing.has(a.name)) continue;
    await act(ctx, `NetHSM: add administrator ${a.name}`, async () => void (await admin.addUser({ userId: a.name, role: "Administrator", realName: a.name, passphrase: a.passphrase })));
  }
  const namespaces = new Set(await admin.listNamespaces());
  for (const a of n.namespaceAdministrators) {
    const ns = nsOf(a.name)!;
    if (!existing.has(a.name)) {
      await act(ctx, `NetHSM: add namespace administrator ${a.name}`, async () => void (await admin.addUser({ userId: a.name, role: "Administrator", realName: a.name, passphrase: a.passphrase })));
    }
    if (!namespaces.has(ns)) {
      await act(ctx, `NetHSM: add namespace ${ns}`, async () => admin.addNamespace(ns));
      namespaces.add(ns);
    }
  }
}

/** Keys first (a tag must exist on a key before an operator can carry it): generated, or their tags corrected. */
async function ensureKeys(ctx: RunContext, admins: Administrators, keys: readonly WantedKey[]): Promise<void> {
  for (const k of keys) {
    const c = admins.of(k.namespace);
    const have = new Set(await c.listKeys());
    if (!have.has(k.id)) {
      const what = k.logKey ? `the signing log key ${k.id} (Ed25519)` : `key ${k.namespace ? `${k.namespace}~` : ""}${k.id} (${k.setup.keyType})`;
      await act(ctx, `NetHSM: generate ${what} with tag ${k.tag}`, async () => {
        await new NetHsmAdministration(c).generateKey(k.id, k.setup, [k.tag]);
        crashPoint("nethsm:after-key", ctx.env);
      });
      continue;
    }
    const tags = (await c.getKey(k.id)).restrictions.tags ?? [];
    if (!tags.includes(k.tag)) await act(ctx, `NetHSM: tag key ${k.id} with ${k.tag}`, async () => void (await c.addKeyTag(k.id, k.tag)));
    for (const t of tags.filter((x) => x !== k.tag)) await act(ctx, `NetHSM: remove tag ${t} from key ${k.id}`, async () => c.deleteKeyTag(k.id, t));
  }
}

/**
 * Non-admin users: created, or given a new passphrase, crash-safely (`.next` files → one backend call →
 * renames, ./secret-rotation.ts); operators get their key's tag. Returns the passphrase set for each user.
 */
async function rotateUsers(ctx: RunContext, admins: Administrators, users: Iterable<WantedUser>, existing: ReadonlySet<string>): Promise<Map<string, string>> {
  const target: RotationTarget = { root: ctx.root, handling: ctx.config.system.nonAdminSecretHandling, credsOptions: ctx.credsOptions };
  const owners = new Map<string, PasswdEntry>();
  const secrets = new Map<string, string>();
  for (const u of users) {
    const copies: SecretCopy[] = [];
    for (const h of u.holders) {
      const owner = owners.get(h) ?? (await requireUser(h));
      owners.set(h, owner);
      copies.push({ owner, backendUser: u.id });
    }
    const c = admins.of(nsOf(u.id));
    const pass = generatePassphrase();
    const present = existing.has(u.id);
    await act(ctx, `NetHSM: ${present ? "rotate the passphrase of" : "add"} ${u.role} user ${u.id}; write it to the secret files of ${u.holders.join(", ")}`, async () => {
      for (const copy of copies) await writeNextSecret(target, copy, pass);
      crashPoint("nethsm:after-next-written", ctx.env);
      if (present) await c.setUserPassphrase(u.id, pass);
      else await c.addUser({ userId: u.id, role: u.role, realName: u.id, passphrase: pass });
      crashPoint("nethsm:after-passphrase-set", ctx.env);
      for (const copy of copies) await commitNextSecret(target, copy);
    });
    secrets.set(u.id, pass);
    if (u.role === "Operator" && (present || !ctx.dryRun)) {
      const tags = ctx.dryRun && !present ? [] : await c.getUserTags(u.id);
      if (u.tag !== undefined && !tags.includes(u.tag)) await act(ctx, `NetHSM: tag user ${u.id} with ${u.tag}`, async () => void (await c.addUserTag(u.id, u.tag!)));
      for (const t of tags.filter((x) => x !== u.tag)) await act(ctx, `NetHSM: remove tag ${t} from user ${u.id}`, async () => c.deleteUserTag(u.id, t));
    }
  }
  return secrets;
}

/** Certificates made by each key itself (through its operator, with this run's passphrase), only where none is stored. */
async function ensureCertificates(
  ctx: RunContext,
  conn: readonly NetHsmConnection[],
  admins: Administrators,
  keys: readonly WantedKey[],
  secrets: ReadonlyMap<string, string>,
): Promise<void> {
  for (const k of keys) {
    if (k.logKey) continue;
    const c = admins.of(k.namespace);
    if (!ctx.dryRun || (await c.listKeys()).includes(k.id)) {
      if ((await c.getKeyCertificate(k.id).catch(() => undefined)) !== undefined) continue;
    }
    await act(ctx, `NetHSM: create the OpenPGP certificate of key ${k.id} (signed by the key)`, async () => {
      const { createCertificate } = await import("../signing/openpgp/certificate.js");
      const signer = await openNetHsmSigningKey({ connections: conn, user: k.operator, passphrase: secrets.get(k.operator)!, keyId: k.id });
      let cert: Uint8Array;
      try {
        cert = await createCertificate(signer, { userIds: k.setup.openpgp.userIds, created: ctx.now() });
      } finally {
        await signer.close();
      }
      await c.putKeyCertificate(k.id, cert);
    });
  }
}

/** Users and keys the configuration no longer has are deleted only when its iteration increased (else: info). */
async function removeStale(
  ctx: RunContext,
  admins: Administrators,
  existing: ReadonlySet<string>,
  keep: ReadonlySet<string>,
  keys: readonly WantedKey[],
): Promise<void> {
  for (const id of [...existing].filter((x) => !keep.has(x))) {
    if (!ctx.iterationIncreased) {
      info(ctx, `NetHSM: user ${id} is not in the config; it is kept until the config iteration is increased`);
      continue;
    }
    await act(ctx, `NetHSM: delete user ${id} (no longer in the config, iteration increased)`, async () => admins.of(nsOf(id)).deleteUser(id));
  }
  for (const ns of new Set<string | undefined>([undefined, ...keys.map((k) => k.namespace)])) {
    const c = admins.of(ns);
    for (const id of await c.listKeys()) {
      if (keys.some((k) => k.namespace === ns && k.id === id)) continue;
      const name = `${ns ? `${ns}~` : ""}${id}`;
      if (!ctx.iterationIncreased) {
        info(ctx, `NetHSM: key ${name} is not in the config; it is kept until the config iteration is increased`);
        continue;
      }
      await act(ctx, `NetHSM: delete key ${name} (no longer in the config, iteration increased)`, async () => c.deleteKey(id));
    }
  }
}

export async function reconcileNetHsm(ctx: RunContext): Promise<NetHsmReconciled> {
  const section = ctx.config.nethsm;
  if (section === undefined) return {};
  const conn = section.connections;
  const applied: { consume(): Promise<void> }[] = [];
  const backup = await uploadedBackup(ctx);
  let state: string;
  if (backup !== undefined) {
    const found = await withClient(conn, undefined, (c) => c.state());
    state = found === "Unprovisioned" || found === "Operational" ? await restoreUploadedBackup(ctx, conn, found, backup) : found;
    if (!ctx.dryRun) applied.push(backup);
    if (ctx.dryRun && found === "Unprovisioned") {
      info(ctx, "NetHSM: users, namespaces and keys are planned once the backup is restored");
      return {};
    }
    state = await bringOperational(ctx, conn);
  } else {
    state = await bringOperational(ctx, conn);
  }
  if (ctx.dryRun && state !== "Operational") {
    info(ctx, "NetHSM: users, namespaces and keys are planned once the device is operational");
    return {};
  }
  const creds = requireAdmin(ctx, "reconciling the NetHSM users and keys");
  const n = creds.nethsm;
  if (n === undefined) throw new ConfigureError("the admin credentials have no NetHSM part");
  const update = await applyUploadedUpdate(ctx, conn, creds);
  if (update !== undefined) {
    applied.push(update);
    // The device reboots into the new software after the commit (NetHSM: Locked unless unattended boot is on).
    await bringOperational(ctx, conn);
  }
  const admins = new Administrators(openNetHsmClient(conn, { user: "admin", passphrase: adminPassphrase(creds, "admin") }), conn, n);
  try {
    await ensureBackupPassphrase(ctx, admins.system, n.backupPassphrase);
    // The log key that is there must be the one log.vkey names, before any key is made (./signing-log.ts).
    const log = netHsmLogKey(ctx.config);
    if (log !== undefined) await checkRecordedVerifierKey(ctx, log, await logVerifierKey(admins.system, log));
    const existing = new Set(await admins.system.listUsers());
    await ensureAdministrators(ctx, admins.system, n, existing);
    const { users, keys } = wanted(section.mappings, log);
    await ensureKeys(ctx, admins, keys);
    const secrets = await rotateUsers(ctx, admins, users.values(), existing);
    await ensureCertificates(ctx, conn, admins, keys, secrets);
    const keep = new Set<string>([...users.keys(), ...n.administrators.map((a) => a.name), ...n.namespaceAdministrators.map((a) => a.name)]);
    await removeStale(ctx, admins, existing, keep, keys);
    const backupMapping = section.mappings.find((m) => m.kind === "backup");
    const passphrase = backupMapping?.kind === "backup" ? secrets.get(backupMapping.backendUser) : undefined;
    const logKey = log !== undefined ? await logVerifierKey(admins.system, log) : undefined;
    return {
      ...(backupMapping?.kind === "backup" && passphrase !== undefined ? { backupUser: { user: backupMapping.backendUser, passphrase } } : {}),
      ...(logKey !== undefined ? { logVerifierKey: logKey } : {}),
      applied,
    };
  } finally {
    admins.close();
  }
}

/** Takes an encrypted NetHSM backup into the backups directory (root 0600) with the backup user of this run. */
export async function backupNetHsm(ctx: RunContext, reconciled: NetHsmReconciled): Promise<void> {
  const section = ctx.config.nethsm;
  if (section === undefined) return;
  const backup = reconciled.backupUser;
  if (backup === undefined) {
    info(ctx, "NetHSM: no backup user is configured; no backup was taken");
    return;
  }
  const data = await withClient(section.connections, { user: backup.user, passphrase: backup.passphrase }, (c) => c.backup());
  const path = join(hostLayout(ctx.root).backupsDir, `nethsm-${ctx.now().toISOString().replace(/[:.]/g, "-")}-iteration-${ctx.config.system.iteration}.bkp`);
  await ensureDir(dirname(path), 0o700);
  await writeFileAtomic(path, data, { mode: 0o600, uid: 0, gid: 0 });
  info(ctx, `NetHSM: backup written to ${path} (${data.length} bytes)`);
}
