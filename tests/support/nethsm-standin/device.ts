/**
 * The stand-in's device model: state machine, users, namespaces, keys, config, and backup/restore in the real
 * format (via lib/nethsm-backup). Everything lives in memory; the domain key and store layout follow the device
 * so that backups are real backups and real backups restore.
 */
import { createHmac, createPrivateKey, randomBytes, timingSafeEqual } from "node:crypto";
import type { NetHsmKeyType, NetHsmMechanism, UserRole } from "../../../lib/backends/nethsm/api-types.js";
import {
  backupUnlockSalt,
  BackupError,
  decryptBackup,
  deriveKey,
  DEVICE_SCRYPT,
  encodeKeyRecord,
  encodeUserRecord,
  encryptBackup,
  lockDomainKey,
  openBackup,
  openBackupWithDomainKey,
  parseBackup,
  parseKeyRecord,
  parseUserRecord,
  sealEntries,
  type DecryptedBackup,
  type OpenedBackup,
  type ScryptParams,
} from "../../../lib/nethsm-backup/index.js";
import { HttpErr } from "./http.js";
import { keyTypeOf, type StoredKey } from "./keys.js";
import { tryDecryptDomainKey } from "./unlock.js";

export type State = "Unprovisioned" | "Locked" | "Operational";

export interface User {
  realName: string;
  role: UserRole;
  salt: Buffer;
  digest: Buffer;
  tags: Set<string>;
}

export interface DeviceOptions {
  readonly scrypt?: ScryptParams;
  readonly softwareVersion?: string;
}

interface PendingRestore {
  readonly backup: DecryptedBackup;
}

export class Device {
  state: State = "Unprovisioned";
  readonly users = new Map<string, User>();
  /** namespace ("" = root) → key id → key */
  readonly keys = new Map<string, Map<string, StoredKey>>();
  readonly namespaces = new Set<string>();
  readonly deviceId = randomBytes(5).toString("hex").toUpperCase();
  readonly configStoreKey = randomBytes(32);
  readonly scrypt: ScryptParams;
  softwareVersion: string;
  private domainKey: Buffer | undefined;
  unlockSalt: Buffer | undefined;
  lockedDomainKey: Buffer | undefined;
  backupSalt: Buffer | undefined;
  backupKey: Buffer | undefined;
  timeOffsetMs = 0;
  unattendedBoot = false;
  logging = { ipAddress: "0.0.0.0", port: 514, logLevel: "info" };
  network: { ipAddress: string; netmask: string; gateway: string; ipv6?: { cidr: string; gateway: string | null } } = {
    ipAddress: "192.168.1.1",
    netmask: "255.255.255.0",
    gateway: "0.0.0.0",
  };
  pendingRestore: PendingRestore | undefined;
  pendingUpdate: { version: string; releaseNotes: string } | undefined;
  readonly counters = new Map<string, number>();
  readonly startedAt = Date.now();

  constructor(opts: DeviceOptions = {}) {
    this.scrypt = opts.scrypt ?? DEVICE_SCRYPT;
    this.softwareVersion = opts.softwareVersion ?? "4.0";
  }

  count(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  now(): Date {
    return new Date(Date.now() + this.timeOffsetMs);
  }

  setTime(t: Date): void {
    this.timeOffsetMs = t.getTime() - Date.now();
  }

  keyStore(namespace: string | undefined): Map<string, StoredKey> {
    const ns = namespace ?? "";
    let m = this.keys.get(ns);
    if (!m) {
      m = new Map();
      this.keys.set(ns, m);
    }
    return m;
  }

  // ---------------------------------------------------------------- users

  static makeUser(realName: string, role: UserRole, passphrase: string, tags: Iterable<string> = []): User {
    const salt = randomBytes(16);
    return { realName, role, salt, digest: createHmac("sha256", salt).update(passphrase, "utf8").digest(), tags: new Set(tags) };
  }

  static checkPassphrase(u: User, passphrase: string): boolean {
    const d = createHmac("sha256", u.salt).update(passphrase, "utf8").digest();
    return d.length === u.digest.length && timingSafeEqual(d, u.digest);
  }

  // ---------------------------------------------------------------- provision / lock / unlock

  async provision(unlockPassphrase: string, adminPassphrase: string, time: Date): Promise<void> {
    this.domainKey = randomBytes(32);
    this.unlockSalt = randomBytes(16);
    this.lockedDomainKey = await lockDomainKey(this.domainKey, unlockPassphrase, this.unlockSalt, this.scrypt);
    this.users.clear();
    this.keys.clear();
    this.namespaces.clear();
    this.users.set("admin", Device.makeUser("admin", "Administrator", adminPassphrase));
    this.setTime(time);
    this.state = "Operational";
    this.count("kv write", 4);
  }

  lock(): void {
    this.domainKey = undefined;
    this.state = "Locked";
  }

  /** Returns false on a wrong passphrase. */
  async unlock(passphrase: string): Promise<boolean> {
    if (this.pendingRestore) {
      let opened: OpenedBackup;
      try {
        opened = await openBackup(this.pendingRestore.backup, passphrase, this.scrypt);
      } catch (e) {
        if (e instanceof BackupError && /unlock passphrase/.test(e.message)) return false;
        throw e;
      }
      this.loadStores(opened, true);
      this.pendingRestore = undefined;
      this.state = "Operational";
      return true;
    }
    if (!this.lockedDomainKey || !this.unlockSalt) return false;
    const U = await deriveKey(passphrase, this.unlockSalt, this.scrypt);
    const dk = tryDecryptDomainKey(U, this.lockedDomainKey);
    if (!dk) return false;
    this.domainKey = dk;
    this.state = "Operational";
    return true;
  }

  async checkUnlockPassphrase(passphrase: string): Promise<boolean> {
    if (!this.lockedDomainKey || !this.unlockSalt) return false;
    return tryDecryptDomainKey(await deriveKey(passphrase, this.unlockSalt, this.scrypt), this.lockedDomainKey) !== undefined;
  }

  async setUnlockPassphrase(passphrase: string): Promise<void> {
    this.lockedDomainKey = await lockDomainKey(this.domainKey!, passphrase, this.unlockSalt!, this.scrypt);
  }

  async checkBackupPassphrase(current: string): Promise<boolean> {
    if (!this.backupKey || !this.backupSalt) return current === "";
    const k = await deriveKey(current, this.backupSalt, this.scrypt);
    return timingSafeEqual(k, this.backupKey);
  }

  async setBackupPassphrase(passphrase: string): Promise<void> {
    this.backupSalt ??= randomBytes(16);
    this.backupKey = await deriveKey(passphrase, this.backupSalt, this.scrypt);
  }

  factoryReset(): void {
    this.state = "Unprovisioned";
    this.users.clear();
    this.keys.clear();
    this.namespaces.clear();
    this.domainKey = this.unlockSalt = this.lockedDomainKey = this.backupSalt = this.backupKey = undefined;
    this.pendingRestore = this.pendingUpdate = undefined;
    this.unattendedBoot = false;
  }

  reboot(): void {
    if (this.state === "Operational" && !this.unattendedBoot) this.lock();
  }

  // ---------------------------------------------------------------- backup

  backup(): Buffer {
    if (!this.backupKey || !this.backupSalt) throw new HttpErr(412, "Backup passphrase is not set");
    const plain: { key: string; value: Buffer }[] = [
      { key: "/.initialized", value: Buffer.alloc(0) },
      { key: "/authentication/.version", value: Buffer.from("0") },
    ];
    for (const id of [...this.users.keys()].sort()) {
      const u = this.users.get(id)!;
      plain.push({ key: `/authentication/${id}`, value: encodeUserRecord({ ...u, tags: [...u.tags] }) });
    }
    plain.push(
      { key: "/config/backup-key", value: this.backupKey },
      { key: "/config/backup-salt", value: this.backupSalt },
      { key: "/config/version", value: Buffer.from("1") },
      { key: "/key/.version", value: Buffer.from("0") },
    );
    const keyEntries: { key: string; value: Buffer }[] = [];
    for (const [ns, store] of this.keys) {
      for (const [id, k] of store) {
        keyEntries.push({
          key: ns === "" ? `/key/${id}` : `/key/.${ns}/${id}`,
          value: encodeKeyRecord({
            mechanisms: k.mechanisms,
            priv: k.privateKey ? { pem: k.privateKey.export({ format: "pem", type: "pkcs8" }).toString() } : { raw: k.raw! },
            cert: k.cert,
            operations: k.operations,
            tags: [...k.tags],
            ...(k.label ? { label: k.label } : {}),
          }),
        });
      }
    }
    keyEntries.sort((a, b) => (a.key < b.key ? -1 : 1));
    plain.push(...keyEntries);
    const local = `/local/${this.deviceId}/config`;
    plain.push(
      { key: `${local}/time-offset`, value: Buffer.from(String(Math.round(this.timeOffsetMs / 1000))) },
      { key: `${local}/unlock-salt`, value: this.unlockSalt! },
      { key: "/namespace/.version", value: Buffer.from("0") },
    );
    for (const ns of [...this.namespaces].sort()) plain.push({ key: `/namespace/${ns}`, value: Buffer.from(JSON.stringify(ns)) });
    return encryptBackup({
      salt: this.backupSalt,
      backupKey: this.backupKey,
      lockedDomainKey: this.lockedDomainKey!,
      deviceId: this.deviceId,
      configStoreKey: this.configStoreKey,
      entries: sealEntries(plain, this.domainKey!, this.configStoreKey),
    });
  }

  /**
   * POST /system/restore. Unprovisioned: full restore, result Locked (unlock with the backup's unlock passphrase).
   * Operational: partial restore of users, keys, namespaces and backup key; Locked if the domain key differs.
   */
  async restore(bytes: Buffer, backupPassphrase: string | undefined, systemTime: Date | undefined): Promise<void> {
    let decrypted: DecryptedBackup;
    try {
      const file = parseBackup(bytes);
      if (backupPassphrase === undefined) {
        if (this.state !== "Operational" || !this.backupSalt || !this.backupKey || !Buffer.from(file.salt).equals(this.backupSalt)) {
          throw new HttpErr(400, "No backupPassphrase provided");
        }
        decrypted = await decryptBackup(file, { key: this.backupKey });
      } else {
        decrypted = await decryptBackup(file, { passphrase: backupPassphrase, scrypt: this.scrypt });
      }
    } catch (e) {
      if (e instanceof HttpErr) throw e;
      if (e instanceof BackupError) {
        if (/bad magic|unsupported NetHSM backup version/.test(e.message)) throw new HttpErr(400, "Not a NetHSM backup file");
        if (/backup-version/.test(e.message)) {
          throw new HttpErr(400, "Could not decrypt backup-version, authentication failed. Is the passphrase correct?");
        }
        throw new HttpErr(400, `Restore failed: ${e.message}`);
      }
      throw e;
    }
    if (systemTime) this.setTime(systemTime);
    if (this.state === "Unprovisioned") {
      this.users.clear();
      this.keys.clear();
      this.namespaces.clear();
      this.lockedDomainKey = Buffer.from(decrypted.lockedDomainKey);
      this.unlockSalt = Buffer.from(backupUnlockSalt(decrypted));
      this.pendingRestore = { backup: decrypted };
      this.state = "Locked";
      return;
    }
    // Operational: partial restore
    if (this.lockedDomainKey && Buffer.from(decrypted.lockedDomainKey).equals(this.lockedDomainKey) && this.domainKey) {
      this.loadStores(openBackupWithDomainKey(decrypted, this.domainKey, this.unlockSalt!), false);
      return;
    }
    this.lockedDomainKey = Buffer.from(decrypted.lockedDomainKey);
    this.unlockSalt = Buffer.from(backupUnlockSalt(decrypted));
    this.pendingRestore = { backup: decrypted };
    this.unattendedBoot = false;
    this.lock();
  }

  /** Replaces users, keys, namespaces and the backup key/salt with the opened backup's stores. */
  private loadStores(opened: OpenedBackup, full: boolean): void {
    this.users.clear();
    this.keys.clear();
    this.namespaces.clear();
    this.domainKey = Buffer.from(opened.domainKey);
    for (const e of opened.entries) {
      if (e.value === undefined) continue;
      const v = Buffer.from(e.value);
      let m: RegExpExecArray | null;
      if ((m = /^\/authentication\/([^.][^/]*)$/.exec(e.key))) {
        const r = parseUserRecord(v, e.key);
        this.users.set(m[1]!, { realName: r.realName, role: r.role, salt: Buffer.from(r.salt), digest: Buffer.from(r.digest), tags: new Set(r.tags) });
      } else if ((m = /^\/key\/(?:\.([^/]+)\/)?([^./][^/]*)$/.exec(e.key))) {
        const r = parseKeyRecord(v, e.key);
        const privateKey = "pem" in r.priv ? createPrivateKey(r.priv.pem) : undefined;
        const key: StoredKey = {
          type: privateKey ? keyTypeOf(privateKey) : ("Generic" as NetHsmKeyType),
          mechanisms: r.mechanisms as NetHsmMechanism[],
          ...(privateKey ? { privateKey } : { raw: Buffer.from((r.priv as { raw: Uint8Array }).raw) }),
          tags: new Set(r.tags),
          ...(r.cert ? { cert: { contentType: r.cert.contentType, data: Buffer.from(r.cert.data) } } : {}),
          operations: r.operations,
          ...(r.label ? { label: r.label } : {}),
        };
        this.keyStore(m[1]).set(m[2]!, key);
      } else if ((m = /^\/namespace\/([^.][^/]*)$/.exec(e.key))) {
        this.namespaces.add(m[1]!);
      } else if (e.key === "/config/backup-salt") {
        this.backupSalt = v;
      } else if (e.key === "/config/backup-key") {
        this.backupKey = v;
      } else if (full && /^(\/local\/[^/]+)?\/config\/time-offset$/.test(e.key)) {
        const s = Number(v.toString());
        if (Number.isFinite(s)) this.timeOffsetMs = s * 1000;
      } else if (full && /^\/config\/unattended-boot$/.test(e.key)) {
        this.unattendedBoot = v.toString() === "1";
      }
    }
  }
}
