/**
 * A complete signing host on this machine, for integration tests, the demo and the SSH benchmark:
 * real Unix users (unique prefix), a SoftHSM token with one key per signer (generated on the token, with an
 * OpenPGP certificate made by the token), per-user secret files, sshd drop-ins rendered by
 * signstar-configure-build, and a real sshd on 127.0.0.1 whose ForceCommands run our compiled executables.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { parseConfig } from "../../lib/config/load.js";
import type { KeySetup } from "../../lib/config/model.js";
import { ensurePkcs11SigningKey } from "../../lib/configure/pkcs11-keys.js";
import { NetHsmClient, netHsmGenerateArgs, openNetHsmSigningKey } from "../../lib/backends/nethsm/index.js";
import { createCertificate, parseCertificate } from "../../lib/signing/openpgp/certificate.js";
import { toHex } from "../../lib/signing/openpgp/fingerprint.js";
import { startStandIn, type StandIn } from "./nethsm-standin/index.js";
import { configureBuild } from "../../lib/host/configure-build.js";
import { createNonAdminSecret } from "../../lib/secrets/non-admin.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { createSoftHsm, type SoftHsm } from "./softhsm.js";
import { generateSshKey, startSshd, type Sshd, type SshKey } from "./sshd.js";
import { memorySink, startSyslog, type SyslogListener } from "./syslog.js";
import { Cleanups, hostDir, hostUsers, shareWithGroup, tokenGroup, writeWrappers } from "./host-kit.js";
import type { TestUsers } from "./users.js";
import { REPO_ROOT } from "./repo.js";
import { ensureCountersDir } from "../../lib/metrics/signature-counters.js";
import { lookup } from "./users.js";
import { generateLogKeyFile } from "../../lib/tlog/key-file.js";
import { startLogWriter, type RunningLogWriter } from "../../lib/tools/log-writer.js";

const HOME_BASE = hostLayout().homeBase;

export { REPO_ROOT };

const exec = promisify(execFile);

export type SignerKind = "ed25519" | "p256" | "p384" | "p521" | "rsa2048";

export const KEY_SETUPS: Record<SignerKind, string> = {
  ed25519: `{ key_type = "Curve25519", key_mechanisms = ["EdDsaSignature"], signature_type = "EdDsa"`,
  p256: `{ key_type = "EcP256", key_mechanisms = ["EcdsaSignature"], signature_type = "EcdsaP256"`,
  p384: `{ key_type = "EcP384", key_mechanisms = ["EcdsaSignature"], signature_type = "EcdsaP384"`,
  p521: `{ key_type = "EcP521", key_mechanisms = ["EcdsaSignature"], signature_type = "EcdsaP521"`,
  rsa2048: `{ key_type = "Rsa", key_mechanisms = ["RsaSignaturePkcs1"], signature_type = "Pkcs1", key_length = 2048`,
};

export type Backend = "pkcs11" | "nethsm";

export interface HostSigner {
  readonly backend: Backend;
  readonly kind: SignerKind;
  readonly user: string;
  readonly sshKey: SshKey;
  /** Armored-free binary OpenPGP certificate of the signer's key. */
  readonly certificate: Uint8Array;
  readonly certificateFile: string;
  readonly fingerprint: string;
}

export interface SigningHost {
  readonly dir: string;
  readonly configFile: string;
  readonly users: TestUsers;
  readonly softhsm: SoftHsm;
  /** The NetHSM stand-in (with `nethsmSigners`). */
  readonly standIn?: StandIn;
  readonly sshd: Sshd;
  readonly syslog: SyslogListener;
  readonly signers: readonly HostSigner[];
  /** A user with SSH access whose role is not signing (wire_guard_download). */
  readonly otherRole: { readonly user: string; readonly sshKey: SshKey };
  /** With `baseline: true`: a user whose ForceCommand is /bin/true through the same sshd (benchmarks). */
  readonly baseline?: { readonly user: string; readonly sshKey: SshKey };
  readonly binDir: string;
  readonly env: Readonly<Record<string, string>>;
  /** Where the signing tool counts signatures per user (metrics). */
  readonly countersDir: string;
  readonly signingLog?: HostSigningLog;
  stop(): Promise<void>;
}

/** Executables the host wires up; each becomes a small wrapper in binDir that runs dist/bin/<name>.js. */
const EXECUTABLES = ["signstar-download-signature", "signstar-download-wireguard"];

export interface SigningHostOptions {
  /** PKCS#11 (SoftHSM) signers, one Unix user each. */
  readonly signers: readonly SignerKind[];
  /** NetHSM (stand-in) signers, one Unix user each. */
  readonly nethsmSigners?: readonly SignerKind[];
  readonly baseline?: boolean;
  /** Enable the signing log: `signing_log` in the config, and the log writer (startLogWriter) on the host's socket. */
  readonly signingLog?: boolean;
  /** The `[pkcs11] module` of the configuration (default SoftHSM's; e.g. p11-kit-client.so before a p11-kit server). */
  readonly pkcs11Module?: string;
}

/** The host's signing log (with `signingLog: true`). */
export interface HostSigningLog {
  readonly origin: string;
  readonly dir: string;
  readonly verifierKey: string;
  readonly running: RunningLogWriter;
}

export const NETHSM_ADMIN_PASSPHRASE = "stand-in-admin-passphrase";

export async function startSigningHost(opts: SigningHostOptions): Promise<SigningHost> {
  const cleanups = new Cleanups();
  const cleanup = (): Promise<void> => cleanups.run();
  try {
    const dir = await hostDir("signstar-host-", cleanups);
    const users = hostUsers(cleanups);

    // SoftHSM token, shared by the signers through a group (PKCS#11 has one user PIN per token).
    const softhsm = await createSoftHsm({ tokens: [{ label: "signstar", userPin: "user-pin-123456", soPin: "so-pin-12345678" }] });
    cleanups.push(() => softhsm.cleanup());
    softhsm.activate();
    const group = await tokenGroup(users);

    const binDir = join(dir, "bin");
    await writeWrappers(binDir, EXECUTABLES);

    const keysDir = join(dir, "ssh-keys");
    await mkdir(keysDir, { mode: 0o700 });
    const signerUsers = opts.signers.map((kind) => ({ kind, user: users.name(`sign-${kind}`) }));
    const nethsmUsers = (opts.nethsmSigners ?? []).map((kind) => ({ kind, user: users.name(`nh-${kind}`), backendUser: `op${kind}` }));
    const otherUser = users.name("wg");
    const baselineUser = opts.baseline ? users.name("true") : undefined;
    const sshKeys = new Map<string, SshKey>();
    const allSigners = [...signerUsers.map((s) => s.user), ...nethsmUsers.map((s) => s.user)];
    for (const name of [...allSigners, otherUser, ...(baselineUser ? [baselineUser] : [])]) {
      sshKeys.set(name, await generateSshKey(keysDir, name));
    }

    const configLines = [
      "[system]",
      "iteration = 1",
      'admin_secret_handling = "plaintext"',
      'non_admin_secret_handling = "plaintext"',
      ...(opts.signingLog ? [`signing_log = { origin = "signstar.test/${users.prefix}log" }`] : []),
      "",
      "[[system.mappings]]",
      `wire_guard_download = { system_user = "${otherUser}", ssh_authorized_key = "${sshKeys.get(otherUser)!.publicKey}" }`,
      "",
      "[pkcs11]",
      `module = "${opts.pkcs11Module ?? softhsm.module}"`,
      "",
      "[[pkcs11.mappings]]",
      'admin = { token = { label = "signstar" } }',
      ...signerUsers.flatMap(({ kind, user }) => [
        "",
        "[[pkcs11.mappings]]",
        "[pkcs11.mappings.signing]",
        `system_user = "${user}"`,
        `ssh_authorized_key = "${sshKeys.get(user)!.publicKey}"`,
        'token = { label = "signstar" }',
        `key = { label = "${kind}-key" }`,
        `key_setup = ${KEY_SETUPS[kind]}, key_context = { openpgp = { user_ids = ["Signstar test ${kind} <${kind}@signstar.test>"], version = "4" } } }`,
      ]),
      "",
    ];
    let standIn: StandIn | undefined;
    if (nethsmUsers.length > 0) {
      standIn = await startStandIn({ rateLimitMs: 1000 });
      const started = standIn;
      cleanups.push(() => started.close());
      configLines.push(
        "[nethsm]",
        `connections = [{ url = "${standIn.url}", tls_security = { fingerprints = { sha256 = ["${standIn.tls.fingerprint}"] } } }]`,
        "",
        "[[nethsm.mappings]]",
        'admin = "admin"',
        ...nethsmUsers.flatMap(({ kind, user, backendUser }) => [
          "",
          "[[nethsm.mappings]]",
          "[nethsm.mappings.signing]",
          `system_user = "${user}"`,
          `ssh_authorized_key = "${sshKeys.get(user)!.publicKey}"`,
          `backend_user = "${backendUser}"`,
          `signing_key_id = "key${kind}"`,
          `tag = "tag${kind}"`,
          `key_setup = ${KEY_SETUPS[kind]}, key_context = { openpgp = { user_ids = ["Signstar NetHSM ${kind} <${kind}@nethsm.signstar.test>"], version = "4" } } }`,
        ]),
        "",
      );
    }
    const configText = configLines.join("\n");
    const configFile = join(dir, "config.toml");
    await writeFile(configFile, configText, { mode: 0o644 });
    const config = parseConfig(configText, configFile);

    const signers: HostSigner[] = [];
    for (const { kind, user } of signerUsers) {
      const mapping = config.pkcs11!.mappings.find((m) => m.kind === "signing" && m.systemUser === user);
      if (mapping?.kind !== "signing") throw new Error(`no mapping for ${user}`);
      const ensured = await ensurePkcs11SigningKey({
        module: softhsm.module,
        token: mapping.token,
        key: mapping.key,
        setup: mapping.keySetup as KeySetup,
        userPin: softhsm.token.userPin,
        now: new Date(Date.now() - 60_000),
      });
      const certificateFile = join(dir, `${kind}.cert.pgp`);
      await writeFile(certificateFile, ensured.certificate, { mode: 0o644 });
      await users.add(`sign-${kind}`, { home: join(HOME_BASE, user), createHome: true });
      await exec("usermod", ["-aG", group, user]);
      await createNonAdminSecret({
        systemUser: user,
        backendUser: `pkcs11-token-label-signstar`,
        handling: "plaintext",
        secret: softhsm.token.userPin,
      });
      signers.push({ backend: "pkcs11", kind, user, sshKey: sshKeys.get(user)!, certificate: ensured.certificate, certificateFile, fingerprint: ensured.fingerprint });
    }
    if (standIn) {
      signers.push(...(await provisionNetHsm(config, nethsmUsers, dir, sshKeys)));
      for (const { kind, user, backendUser } of nethsmUsers) {
        await users.add(`nh-${kind}`, { home: join(HOME_BASE, user), createHome: true });
        await createNonAdminSecret({ systemUser: user, backendUser, handling: "plaintext", secret: operatorPassphrase(backendUser) });
      }
    }
    await users.add("wg", { home: join(HOME_BASE, otherUser), createHome: true });
    let baselineConfig = "";
    if (baselineUser) {
      await users.add("true");
      const keys = join(dir, "baseline.authorized_keys");
      await writeFile(keys, `restrict ${sshKeys.get(baselineUser)!.publicKey}\n`, { mode: 0o644 });
      baselineConfig = `Match User ${baselineUser}\n    AuthorizedKeysFile ${keys}\n    ForceCommand /bin/true\n    PermitTTY no\n`;
    }

    // Token files: group read/write for the signers (SoftHSM takes file locks), nobody else.
    await shareWithGroup(softhsm.tokenDir, group);
    await chmod(softhsm.dir, 0o755);

    const renderRoot = join(dir, "root");
    await configureBuild({ config, root: renderRoot, inPlace: true, binDir, manageUsers: false, out: () => undefined });

    const syslog = await startSyslog();
    cleanups.push(() => syslog.stop());
    // Host state outside the secrets (signature counters) lives below SIGNSTAR_ROOT, as tmpfiles.d would make it.
    const stateRoot = join(dir, "state");
    const countersDir = hostLayout(stateRoot).signatureCountersDir;
    await mkdir(countersDir, { recursive: true, mode: 0o755 });
    for (const s of signers) {
      const entry = await lookup(s.user);
      if (entry) await ensureCountersDir(join(countersDir, s.user), entry);
    }
    const env = {
      SIGNSTAR_CONFIG: configFile,
      SOFTHSM2_CONF: softhsm.confPath,
      SIGNSTAR_LOG_SOCKET: syslog.socket,
      SIGNSTAR_ROOT: stateRoot,
    };
    let signingLog: HostSigningLog | undefined;
    if (opts.signingLog) {
      const origin = `signstar.test/${users.prefix}log`;
      const keyFile = join(dir, "log.key");
      const logKey = await generateLogKeyFile(keyFile, origin);
      const layout = hostLayout(stateRoot);
      const logSink = memorySink();
      const running = await startLogWriter({ config: { path: configFile }, keyFile, logDir: layout.signingLogDir, socket: layout.logWriterSocket, env: {}, log: logSink });
      cleanups.push(() => running.close());
      signingLog = { origin, dir: layout.signingLogDir, verifierKey: logKey.verifierKey, running };
    }
    const sshd = await startSshd({
      includes: [join(renderRoot, "etc/ssh/sshd_config.d/*.conf")],
      allowUsers: [...allSigners, otherUser, ...(baselineUser ? [baselineUser] : [])],
      env,
      extraConfig: baselineConfig,
    });
    cleanups.push(() => sshd.stop());

    return {
      dir,
      configFile,
      users,
      softhsm,
      ...(standIn ? { standIn } : {}),
      sshd,
      syslog,
      signers,
      otherRole: { user: otherUser, sshKey: sshKeys.get(otherUser)! },
      ...(baselineUser ? { baseline: { user: baselineUser, sshKey: sshKeys.get(baselineUser)! } } : {}),
      binDir,
      env,
      countersDir,
      ...(signingLog ? { signingLog } : {}),
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** A fixed, test-only operator passphrase per backend user (the secret files carry it to the signers). */
export const operatorPassphrase = (backendUser: string): string => `operator-passphrase-${backendUser}`;

/** Provisions the stand-in: admin, one Operator user + tagged key + OpenPGP certificate per NetHSM signer. */
async function provisionNetHsm(
  config: ReturnType<typeof parseConfig>,
  nethsmUsers: readonly { kind: SignerKind; user: string; backendUser: string }[],
  dir: string,
  sshKeys: Map<string, SshKey>,
): Promise<HostSigner[]> {
  const connections = config.nethsm!.connections;
  const admin = new NetHsmClient({ connections, credentials: { user: "admin", passphrase: NETHSM_ADMIN_PASSPHRASE } });
  const signers: HostSigner[] = [];
  try {
    await admin.provision({ unlockPassphrase: "stand-in-unlock-passphrase", adminPassphrase: NETHSM_ADMIN_PASSPHRASE, systemTime: new Date() });
    for (const { kind, user, backendUser } of nethsmUsers) {
      const mapping = config.nethsm!.mappings.find((m) => m.kind === "signing" && m.systemUser === user);
      if (mapping?.kind !== "signing") throw new Error(`no mapping for ${user}`);
      await admin.generateKey({ ...netHsmGenerateArgs(mapping.keySetup), id: mapping.signingKeyId, tags: [mapping.tag] });
      await admin.addUser({ realName: user, role: "Operator", passphrase: operatorPassphrase(backendUser), userId: backendUser });
      await admin.addUserTag(backendUser, mapping.tag);
      const key = await openNetHsmSigningKey({ connections, user: backendUser, passphrase: operatorPassphrase(backendUser), keyId: mapping.signingKeyId });
      let certificate: Uint8Array;
      try {
        certificate = await createCertificate(key, { userIds: mapping.keySetup.openpgp.userIds, created: new Date(Date.now() - 60_000) });
      } finally {
        await key.close();
      }
      await admin.putKeyCertificate(mapping.signingKeyId, certificate);
      const certificateFile = join(dir, `nethsm-${kind}.cert.pgp`);
      await writeFile(certificateFile, certificate, { mode: 0o644 });
      const fingerprint = toHex(parseCertificate(certificate).fingerprint).toUpperCase();
      signers.push({ backend: "nethsm", kind, user, sshKey: sshKeys.get(user)!, certificate, certificateFile, fingerprint });
    }
  } finally {
    admin.close();
  }
  return signers;
}


export const resolveRepo = (...parts: string[]): string => resolve(REPO_ROOT, ...parts);
