/**
 * A host with one user of every operator role, for the operator-tool tests: a NetHSM stand-in (provisioned,
 * with Backup, Metrics and Operator users, one tagged signing key with its OpenPGP certificate, a backup
 * passphrase), a SoftHSM token with one Ed25519 signing key, real Unix users with their secret files, sshd
 * drop-ins rendered by signstar-configure-build, a real sshd whose ForceCommands run dist/bin/*.js, a syslog
 * listener, a SIGNSTAR_ROOT for host state (per-user signature counter directories, WireGuard key pair).
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { NetHsmClient, openNetHsmSigningKey } from "../../lib/backends/nethsm/index.js";
import { parseConfig } from "../../lib/config/load.js";
import type { Config, KeySetup, Role } from "../../lib/config/model.js";
import { ensurePkcs11SigningKey } from "../../lib/configure/pkcs11-keys.js";
import { configureBuild } from "../../lib/host/configure-build.js";
import { createNonAdminSecret } from "../../lib/secrets/non-admin.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { createCertificate } from "../../lib/signing/openpgp/certificate.js";
import { wireGuardKeygen } from "../../lib/admin/wireguard.js";
import { ensureCountersDir } from "../../lib/metrics/signature-counters.js";
import { ensureStateDirs } from "../../lib/secrets/state-dirs.js";
import { lookup } from "./users.js";
import { startStandIn, type StandIn } from "./nethsm-standin/index.js";
import { REPO_ROOT } from "./signing-host.js";
import { createSoftHsm, type SoftHsm } from "./softhsm.js";
import { generateSshKey, startSshd, type Sshd, type SshKey } from "./sshd.js";
import { startSyslog, type SyslogListener } from "./syslog.js";
import { runBytes as runProcessBytes, type RunResult } from "./run.js";
import { Cleanups, hostDir, hostUsers, shareWithGroup, tokenGroup, writeWrappers } from "./host-kit.js";
import type { TestUsers } from "./users.js";

const HOME_BASE = hostLayout().homeBase;

const exec = promisify(execFile);

export const UNLOCK = "unlock-passphrase-1";
export const ADMIN = "admin-passphrase-1";
export const BACKUP_PASSPHRASE = "backup-passphrase-1";
/** Upload bounds set for every session through sshd SetEnv (small, so the oversize tests are quick). */
export const BACKUP_UPLOAD_MAX = 256 * 1024;
export const UPDATE_UPLOAD_MAX = 256 * 1024;

/** Every operator executable and the role it serves (plus the signing tool, for the role matrix). */
export const EXECUTABLES: readonly { readonly name: string; readonly role: Role }[] = [
  { name: "signstar-download-signature", role: "signing" },
  { name: "signstar-download-backup", role: "backup" },
  { name: "signstar-upload-backup", role: "backup_upload" },
  { name: "signstar-download-metrics", role: "metrics" },
  { name: "signstar-download-key-certificates", role: "key_certificates" },
  { name: "signstar-upload-update", role: "update_upload" },
  { name: "signstar-download-wireguard", role: "wire_guard_download" },
];

export interface OperatorUser {
  readonly user: string;
  readonly role: Role;
  /** undefined for the hermetic metrics user (no SSH). */
  readonly sshKey?: SshKey;
}

export interface OperatorHost {
  readonly dir: string;
  /** SIGNSTAR_ROOT of the host tools. */
  readonly root: string;
  readonly configFile: string;
  readonly config: Config;
  readonly users: TestUsers;
  readonly standIn: StandIn;
  readonly updateKey: KeyObject;
  readonly softhsm: SoftHsm;
  readonly sshd: Sshd;
  readonly syslog: SyslogListener;
  readonly binDir: string;
  readonly env: Readonly<Record<string, string>>;
  /** One per role; `signer` is the PKCS#11 signer, `nethsmSigner` the NetHSM one. */
  readonly u: Readonly<Record<"signer" | "nethsmSigner" | "backup" | "metrics" | "hermetic" | "certs" | "backupUpload" | "updateUpload" | "wireguard", OperatorUser>>;
  readonly all: readonly OperatorUser[];
  readonly counterDir: string;
  admin(): NetHsmClient;
  stop(): Promise<void>;
}

const ED25519_SETUP = `{ key_type = "Curve25519", key_mechanisms = ["EdDsaSignature"], signature_type = "EdDsa", key_context = { openpgp = { user_ids = ["%UID%"], version = "4" } } }`;

export async function startOperatorHost(): Promise<OperatorHost> {
  const cleanups = new Cleanups();
  const cleanup = (): Promise<void> => cleanups.run();
  try {
    const dir = await hostDir("signstar-ophost-", cleanups);
    const root = join(dir, "root");
    await mkdir(root, { mode: 0o755 });
    const users = hostUsers(cleanups);

    // NetHSM stand-in: provisioned, users, a tagged Ed25519 key with certificate, backup passphrase.
    const vendor = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const standIn = await startStandIn({ rateLimitMs: 0, updateKey: vendor.publicKey });
    cleanups.push(() => standIn.close());
    const connection = `{ url = "${standIn.url}", tls_security = { fingerprints = { sha256 = ["${standIn.tls.fingerprint}"] } } }`;
    const connections = parseConfig(
      `[system]\niteration = 1\nadmin_secret_handling = "plaintext"\nnon_admin_secret_handling = "plaintext"\n[nethsm]\nconnections = [${connection}]\n[[nethsm.mappings]]\nadmin = "admin"\n`,
      "conn",
    ).nethsm!.connections;
    const clients: NetHsmClient[] = [];
    const client = (user?: string, passphrase?: string): NetHsmClient => {
      const c = new NetHsmClient({ connections, ...(user && passphrase ? { credentials: { user, passphrase } } : {}) });
      clients.push(c);
      return c;
    };
    cleanups.push(async () => clients.forEach((c) => c.close()));
    await client().provision({ unlockPassphrase: UNLOCK, adminPassphrase: ADMIN, systemTime: new Date() });
    const admin = client("admin", ADMIN);
    await admin.setBackupPassphrase(BACKUP_PASSPHRASE, "");
    const pw = (name: string): string => `${name}-passphrase-0123456789`;
    const backendUsers: [string, "Backup" | "Metrics" | "Operator"][] = [
      ["backup1", "Backup"],
      ["metrics1", "Metrics"],
      ["keymetrics1", "Operator"],
      ["certreader1", "Operator"],
      ["hmetrics1", "Metrics"],
      ["hkeymetrics1", "Operator"],
      ["signer1", "Operator"],
    ];
    for (const [id, role] of backendUsers) await admin.addUser({ userId: id, realName: id, role, passphrase: pw(id) });
    await admin.addUserTag("signer1", "signing1");
    await admin.generateKey({ id: "signkey1", type: "Curve25519", mechanisms: ["EdDSA_Signature"], tags: ["signing1"] });
    const nethsmKey = await openNetHsmSigningKey({ connections, user: "signer1", passphrase: pw("signer1"), keyId: "signkey1" });
    const nethsmCert = await createCertificate(nethsmKey, { userIds: ["NetHSM signer <nethsm@signstar.test>"], created: new Date(Date.now() - 60_000) });
    await nethsmKey.close();
    await admin.putKeyCertificate("signkey1", nethsmCert);

    // SoftHSM token shared by a group (signer, metrics readers, certificate reader).
    const softhsm = await createSoftHsm({ tokens: [{ label: "signstar", userPin: "user-pin-123456", soPin: "so-pin-12345678" }] });
    cleanups.push(() => softhsm.cleanup());
    softhsm.activate();
    const group = await tokenGroup(users);

    const binDir = join(dir, "bin");
    await writeWrappers(binDir, EXECUTABLES.map((e) => e.name));

    const keysDir = join(dir, "ssh-keys");
    await mkdir(keysDir, { mode: 0o700 });
    const spec = {
      signer: "signing",
      nethsmSigner: "signing",
      backup: "backup",
      metrics: "metrics",
      hermetic: "hermetic_metrics",
      certs: "key_certificates",
      backupUpload: "backup_upload",
      updateUpload: "update_upload",
      wireguard: "wire_guard_download",
    } as const satisfies Record<keyof OperatorHost["u"], Role>;
    const u = {} as Record<keyof OperatorHost["u"], OperatorUser>;
    for (const [k, role] of Object.entries(spec) as [keyof OperatorHost["u"], Role][]) {
      const user = users.name(k.toLowerCase().slice(0, 10));
      u[k] = { user, role, ...(role === "hermetic_metrics" ? {} : { sshKey: await generateSshKey(keysDir, user) }) };
    }
    const key = (k: keyof OperatorHost["u"]): string => u[k].sshKey!.publicKey;
    const configText = [
      "[system]",
      "iteration = 1",
      'admin_secret_handling = "plaintext"',
      'non_admin_secret_handling = "plaintext"',
      "",
      "[[system.mappings]]",
      `wire_guard_download = { system_user = "${u.wireguard.user}", ssh_authorized_key = "${key("wireguard")}" }`,
      "",
      "[nethsm]",
      `connections = [${connection}]`,
      "[[nethsm.mappings]]",
      'admin = "admin"',
      "[[nethsm.mappings]]",
      `backup = { backend_user = "backup1", system_user = "${u.backup.user}", ssh_authorized_key = "${key("backup")}" }`,
      "[[nethsm.mappings]]",
      `metrics = { backend_users = { metrics_user = "metrics1", operator_users = ["keymetrics1"] }, system_user = "${u.metrics.user}", ssh_authorized_key = "${key("metrics")}" }`,
      "[[nethsm.mappings]]",
      `hermetic_metrics = { backend_users = { metrics_user = "hmetrics1", operator_users = ["hkeymetrics1"] }, system_user = "${u.hermetic.user}" }`,
      "[[nethsm.mappings]]",
      `key_certificates = { backend_users = ["certreader1"], system_user = "${u.certs.user}", ssh_authorized_key = "${key("certs")}" }`,
      "[[nethsm.mappings]]",
      `backup_upload = { system_user = "${u.backupUpload.user}", ssh_authorized_key = "${key("backupUpload")}" }`,
      "[[nethsm.mappings]]",
      `update_upload = { system_user = "${u.updateUpload.user}", ssh_authorized_key = "${key("updateUpload")}" }`,
      "[[nethsm.mappings]]",
      "[nethsm.mappings.signing]",
      'backend_user = "signer1"',
      'signing_key_id = "signkey1"',
      'tag = "signing1"',
      `system_user = "${u.nethsmSigner.user}"`,
      `ssh_authorized_key = "${key("nethsmSigner")}"`,
      `key_setup = ${ED25519_SETUP.replace("%UID%", "NetHSM signer <nethsm@signstar.test>")}`,
      "",
      "[pkcs11]",
      `module = "${softhsm.module}"`,
      "[[pkcs11.mappings]]",
      'admin = { token = { label = "signstar" } }',
      "[[pkcs11.mappings]]",
      "[pkcs11.mappings.signing]",
      `system_user = "${u.signer.user}"`,
      `ssh_authorized_key = "${key("signer")}"`,
      'token = { label = "signstar" }',
      'key = { label = "ed25519-key" }',
      `key_setup = ${ED25519_SETUP.replace("%UID%", "PKCS#11 signer <pkcs11@signstar.test>")}`,
      "",
    ].join("\n");
    const configFile = join(dir, "config.toml");
    await writeFile(configFile, configText, { mode: 0o644 });
    const config = parseConfig(configText, configFile);

    const pm = config.pkcs11!.mappings.find((m) => m.kind === "signing");
    if (pm?.kind !== "signing") throw new Error("no pkcs11 signing mapping");
    await ensurePkcs11SigningKey({
      module: softhsm.module, token: pm.token, key: pm.key, setup: pm.keySetup as KeySetup, userPin: softhsm.token.userPin, now: new Date(Date.now() - 60_000),
    });

    // Unix users with homes, token group where they read the token, secrets.
    const secrets: Record<string, readonly [string, string][]> = {
      signer: [["pkcs11-token-label-signstar", softhsm.token.userPin]],
      nethsmSigner: [["signer1", pw("signer1")]],
      backup: [["backup1", pw("backup1")]],
      metrics: [["metrics1", pw("metrics1")], ["keymetrics1", pw("keymetrics1")]],
      hermetic: [["hmetrics1", pw("hmetrics1")], ["hkeymetrics1", pw("hkeymetrics1")]],
      certs: [["certreader1", pw("certreader1")]],
    };
    for (const [k, ou] of Object.entries(u) as [keyof OperatorHost["u"], OperatorUser][]) {
      await users.add(k.toLowerCase().slice(0, 10), { home: join(HOME_BASE, ou.user), createHome: true });
      if (["signer", "metrics", "hermetic", "certs"].includes(k)) await exec("usermod", ["-aG", group, ou.user]);
      for (const [backendUser, secret] of secrets[k] ?? []) {
        await createNonAdminSecret({ systemUser: ou.user, backendUser, handling: "plaintext", secret });
      }
    }
    await shareWithGroup(softhsm.tokenDir, group);
    await chmod(softhsm.dir, 0o755);

    // Host state below SIGNSTAR_ROOT, as tmpfiles.d makes it: signature counters (root 0755, one directory per
    // signing user), the upload users' uploads/ directories, and the WireGuard key pair.
    const counterDir = hostLayout(root).signatureCountersDir;
    await mkdir(counterDir, { recursive: true, mode: 0o755 });
    for (const k of ["signer", "nethsmSigner"] as const) {
      const entry = await lookup(u[k].user);
      if (entry) await ensureCountersDir(join(counterDir, u[k].user), entry);
    }
    for (const k of ["backupUpload", "updateUpload"] as const) {
      const entry = await lookup(u[k].user);
      if (entry) await ensureStateDirs(undefined, u[k].user, "uploads", entry);
    }
    await wireGuardKeygen({ root });

    const renderRoot = join(dir, "render");
    await configureBuild({ config, root: renderRoot, inPlace: true, binDir, manageUsers: false, out: () => undefined });
    const syslog = await startSyslog();
    cleanups.push(() => syslog.stop());
    const env = {
      SIGNSTAR_CONFIG: configFile,
      SOFTHSM2_CONF: softhsm.confPath,
      SIGNSTAR_LOG_SOCKET: syslog.socket,
      SIGNSTAR_ROOT: root,
      SIGNSTAR_UPLOAD_BACKUP_MAX_BYTES: String(BACKUP_UPLOAD_MAX),
      SIGNSTAR_UPLOAD_UPDATE_MAX_BYTES: String(UPDATE_UPLOAD_MAX),
    };
    const all = Object.values(u);
    const sshd = await startSshd({
      includes: [join(renderRoot, "etc/ssh/sshd_config.d/*.conf")],
      allowUsers: all.filter((x) => x.sshKey).map((x) => x.user),
      env,
    });
    cleanups.push(() => sshd.stop());
    return {
      dir, root, configFile, config, users, standIn, updateKey: vendor.privateKey, softhsm, sshd, syslog, binDir, env, u, all, counterDir,
      admin: () => client("admin", ADMIN),
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}


export type BytesResult = RunResult<Buffer>;

/** OpenSSH `ssh` like runSsh, but with binary stdin/stdout (backups, update images). */
export function sshBytes(opts: {
  sshd: Pick<Sshd, "host" | "port" | "knownHosts">;
  user: OperatorUser;
  command?: readonly string[];
  input?: Uint8Array | string;
  timeoutMs?: number;
}): Promise<BytesResult> {
  const args = [
    "-F", "/dev/null", "-p", String(opts.sshd.port), "-i", opts.user.sshKey!.privateKeyFile,
    "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${opts.sshd.knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
    `${opts.user.user}@${opts.sshd.host}`, ...(opts.command ?? []),
  ];
  return runBytes("ssh", args, { ...(opts.input !== undefined ? { input: opts.input } : {}), timeoutMs: opts.timeoutMs ?? 60_000 });
}

/** Runs a command with binary stdin/stdout. */
export function runBytes(
  cmd: string,
  args: readonly string[],
  opts: { input?: Uint8Array | string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<BytesResult> {
  return runProcessBytes(cmd, args, { input: opts.input ?? "", timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.env ? { env: opts.env } : {}) });
}

/** Runs `node dist/bin/<name>.js` as a Unix user (setpriv with its groups) with the host's environment. */
export function runAs(host: OperatorHost, user: string, name: string, opts: { input?: Uint8Array | string; args?: readonly string[]; env?: Record<string, string> } = {}): Promise<BytesResult> {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...host.env, ...(opts.env ?? {}) };
  return runBytes(
    "setpriv",
    [`--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", process.execPath, join(REPO_ROOT, "dist", "bin", `${name}.js`), ...(opts.args ?? [])],
    { env, ...(opts.input !== undefined ? { input: opts.input } : {}) },
  );
}
