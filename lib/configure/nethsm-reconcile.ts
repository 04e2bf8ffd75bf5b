/**
 * NetHSM part of signstar-configure (as Signstar's NetHSM sync, `signstar-config/src/nethsm/backend.rs`, archlinux/signstar d6ad4e9), as the default
 * R-Administrator `admin`:
 *   Unprovisioned → provision (unlock passphrase, admin passphrase, time); Locked → unlock; backup passphrase;
 *   system-wide administrators; namespace administrators then namespaces; every non-admin user (backup,
 *   metrics, metrics operators, signing operators, key-certificate operators) created or given a new
 *   passphrase (crash-safe: ./secret-rotation.ts), signing operators tagged; keys per key_setup with their
 *   tag, and an OpenPGP certificate made by the key itself (through the operator) when none is stored.
 *   Namespaced users and keys are managed by that namespace's N-Administrator.
 *   Users and keys no longer in the config are deleted only when the config iteration increased.
 * After a successful run backupNetHsm stores an encrypted backup in /var/lib/signstar/backups/ (needs a
 * configured backup user; the backup passphrase is part of the admin credentials).
 */
import { dirname, join } from "node:path";
import type { KeySetup, NetHsmConnection, NetHsmMapping } from "../config/model.js";
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
  type NetHsmClient,
  type UserRole,
} from "../backends/nethsm/index.js";
import { act, ConfigureError, info, requireAdmin, type RunContext } from "./context.js";
import { crashPoint } from "./crash.js";
import { hostLayout } from "../layout/host-layout.js";
import { commitNextSecret, writeNextSecret, type RotationTarget, type SecretCopy } from "./secret-rotation.js";

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
}

/** Passphrases set in this run (backup users' are needed for the backup). Never logged. */
const runSecrets = new WeakMap<RunContext, Map<string, string>>();

function nsOf(id: string): string | undefined {
  const i = id.indexOf("~");
  return i < 0 ? undefined : id.slice(0, i);
}

function wanted(mappings: readonly NetHsmMapping[]): { users: Map<string, WantedUser>; keys: WantedKey[] } {
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
  return { users, keys };
}

async function clientFor(conn: readonly NetHsmConnection[], user?: string, passphrase?: string): Promise<NetHsmClient> {
  return openNetHsmClient(conn, user !== undefined && passphrase !== undefined ? { user, passphrase } : undefined);
}

function adminPassphrase(creds: AdminCredentials, name: string): string {
  const n = creds.nethsm;
  const a = [...(n?.administrators ?? []), ...(n?.namespaceAdministrators ?? [])].find((x) => x.name === name);
  if (a === undefined) throw new ConfigureError(`the admin credentials have no passphrase for NetHSM administrator "${name}"`);
  return a.passphrase;
}

async function isHttp(error: unknown, status: number): Promise<boolean> {
  return error instanceof NetHsmHttpError && error.status === status;
}

export async function reconcileNetHsm(ctx: RunContext): Promise<void> {
  const section = ctx.config.nethsm;
  if (section === undefined) return;
  const conn = section.connections;
  const secrets = new Map<string, string>();
  runSecrets.set(ctx, secrets);
  const anon = await clientFor(conn);
  let state;
  try {
    state = await anon.state();
  } finally {
    anon.close();
  }
  info(ctx, `NetHSM state: ${state}`);
  if (state === "Unprovisioned") {
    const creds = requireAdmin(ctx, "provisioning the NetHSM");
    await act(ctx, "NetHSM: provision (unlock passphrase and admin passphrase from the admin credentials)", async () => {
      const c = await clientFor(conn);
      try {
        await c.provision({ unlockPassphrase: creds.nethsm!.unlockPassphrase, adminPassphrase: adminPassphrase(creds, "admin"), systemTime: ctx.now() });
      } finally {
        c.close();
      }
      crashPoint("nethsm:after-provision", ctx.env);
    });
  } else if (state === "Locked") {
    const creds = requireAdmin(ctx, "unlocking the NetHSM");
    await act(ctx, "NetHSM: unlock", async () => {
      const c = await clientFor(conn);
      try {
        await c.unlock(creds.nethsm!.unlockPassphrase);
      } finally {
        c.close();
      }
    });
  } else if (state !== "Operational") {
    throw new ConfigureError(`the NetHSM is in state ${state}; it needs service before signstar-configure can continue`, 7);
  }
  if (ctx.dryRun && state !== "Operational") {
    info(ctx, "NetHSM: users, namespaces and keys are planned once the device is operational");
    return;
  }
  const creds = requireAdmin(ctx, "reconciling the NetHSM users and keys");
  const n = creds.nethsm;
  if (n === undefined) throw new ConfigureError("the admin credentials have no NetHSM part");
  const R = await clientFor(conn, "admin", adminPassphrase(creds, "admin"));
  const nsClients = new Map<string, NetHsmClient>();
  try {
    // Backup passphrase (part of the admin credentials): set once after provisioning.
    try {
      await R.setBackupPassphrase(n.backupPassphrase, n.backupPassphrase);
    } catch (error) {
      if (!(await isHttp(error, 403)) && !(await isHttp(error, 400))) throw error;
      await act(ctx, "NetHSM: set the backup passphrase", async () => R.setBackupPassphrase(n.backupPassphrase, ""));
    }
    const existing = new Set(await R.listUsers());
    // R-Administrators (admin itself exists since provisioning).
    for (const a of n.administrators) {
      if (a.name === "admin") continue;
      if (!existing.has(a.name)) {
        await act(ctx, `NetHSM: add administrator ${a.name}`, async () => void (await R.addUser({ userId: a.name, role: "Administrator", realName: a.name, passphrase: a.passphrase })));
      }
    }
    // Namespace administrators first, then their namespaces.
    const namespaces = new Set(await R.listNamespaces());
    for (const a of n.namespaceAdministrators) {
      const ns = nsOf(a.name)!;
      if (!existing.has(a.name)) {
        await act(ctx, `NetHSM: add namespace administrator ${a.name}`, async () => void (await R.addUser({ userId: a.name, role: "Administrator", realName: a.name, passphrase: a.passphrase })));
      }
      if (!namespaces.has(ns)) {
        await act(ctx, `NetHSM: add namespace ${ns}`, async () => R.addNamespace(ns));
        namespaces.add(ns);
      }
    }
    const adminOf = async (ns: string | undefined): Promise<NetHsmClient> => {
      if (ns === undefined) return R;
      const have = nsClients.get(ns);
      if (have) return have;
      const a = n.namespaceAdministrators.find((x) => nsOf(x.name) === ns);
      if (a === undefined) throw new ConfigureError(`namespace ${ns} has no administrator in the admin credentials`);
      const c = await clientFor(conn, a.name, a.passphrase);
      nsClients.set(ns, c);
      return c;
    };

    const { users, keys } = wanted(section.mappings);
    // Keys first (a tag must exist on a key before an operator can carry it).
    for (const k of keys) {
      const c = await adminOf(k.namespace);
      const have = new Set(await c.listKeys());
      if (!have.has(k.id)) {
        await act(ctx, `NetHSM: generate key ${k.namespace ? `${k.namespace}~` : ""}${k.id} (${k.setup.keyType}) with tag ${k.tag}`, async () => {
          await new NetHsmAdministration(c).generateKey(k.id, k.setup, [k.tag]);
          crashPoint("nethsm:after-key", ctx.env);
        });
      } else {
        const tags = (await c.getKey(k.id)).restrictions.tags ?? [];
        if (!tags.includes(k.tag)) await act(ctx, `NetHSM: tag key ${k.id} with ${k.tag}`, async () => void (await c.addKeyTag(k.id, k.tag)));
        for (const t of tags.filter((x) => x !== k.tag)) await act(ctx, `NetHSM: remove tag ${t} from key ${k.id}`, async () => c.deleteKeyTag(k.id, t));
      }
    }

    // Non-admin users: create or rotate, crash-safely.
    const target: RotationTarget = { root: ctx.root, handling: ctx.config.system.nonAdminSecretHandling, credsOptions: ctx.credsOptions };
    const owners = new Map<string, PasswdEntry>();
    for (const u of users.values()) {
      const copies: SecretCopy[] = [];
      for (const h of u.holders) {
        const owner = owners.get(h) ?? (await requireUser(h));
        owners.set(h, owner);
        copies.push({ owner, backendUser: u.id });
      }
      const c = await adminOf(nsOf(u.id));
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

    // Certificates made by each key (through its operator), only where none is stored.
    for (const k of keys) {
      const c = await adminOf(k.namespace);
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

    // Removal of what the config no longer has: only when the iteration increased.
    const keepUsers = new Set<string>([...users.keys(), ...n.administrators.map((a) => a.name), ...n.namespaceAdministrators.map((a) => a.name)]);
    for (const id of [...existing].filter((x) => !keepUsers.has(x))) {
      if (!ctx.iterationIncreased) {
        info(ctx, `NetHSM: user ${id} is not in the config; it is kept until the config iteration is increased`);
        continue;
      }
      await act(ctx, `NetHSM: delete user ${id} (no longer in the config, iteration increased)`, async () => (await adminOf(nsOf(id))).deleteUser(id));
    }
    const scopes = new Set<string | undefined>([undefined, ...keys.map((k) => k.namespace)]);
    for (const ns of scopes) {
      const c = await adminOf(ns);
      for (const id of await c.listKeys()) {
        if (keys.some((k) => k.namespace === ns && k.id === id)) continue;
        if (!ctx.iterationIncreased) {
          info(ctx, `NetHSM: key ${ns ? `${ns}~` : ""}${id} is not in the config; it is kept until the config iteration is increased`);
          continue;
        }
        await act(ctx, `NetHSM: delete key ${ns ? `${ns}~` : ""}${id} (no longer in the config, iteration increased)`, async () => c.deleteKey(id));
      }
    }
  } finally {
    R.close();
    for (const c of nsClients.values()) c.close();
  }
}

/** Takes an encrypted NetHSM backup into /var/lib/signstar/backups/ (root 0600) with a backup user of this run. */
export async function backupNetHsm(ctx: RunContext): Promise<void> {
  const section = ctx.config.nethsm;
  if (section === undefined) return;
  const backup = section.mappings.find((m) => m.kind === "backup");
  const pass = backup?.kind === "backup" ? runSecrets.get(ctx)?.get(backup.backendUser) : undefined;
  if (backup?.kind !== "backup" || pass === undefined) {
    info(ctx, "NetHSM: no backup user is configured; no backup was taken");
    return;
  }
  const c = await clientFor(section.connections, backup.backendUser, pass);
  try {
    const data = await c.backup();
    const path = join(hostLayout(ctx.root).backupsDir, `nethsm-${ctx.now().toISOString().replace(/[:.]/g, "-")}-iteration-${ctx.config.system.iteration}.bkp`);
    await ensureDir(dirname(path), 0o700);
    await writeFileAtomic(path, data, { mode: 0o600, uid: 0, gid: 0 });
    info(ctx, `NetHSM: backup written to ${path} (${data.length} bytes)`);
  } finally {
    c.close();
  }
}
