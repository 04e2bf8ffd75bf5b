/**
 * A complete signing host on this machine, for integration tests, the demo and the SSH benchmark:
 * real Unix users (unique prefix), a SoftHSM token with one key per signer (generated on the token, with an
 * OpenPGP certificate made by the token), per-user secret files, sshd drop-ins rendered by
 * signstar-configure-build, and a real sshd on 127.0.0.1 whose ForceCommands run our compiled executables.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseConfig } from "../../lib/config/load.js";
import type { KeySetup } from "../../lib/config/model.js";
import { ensurePkcs11SigningKey } from "../../lib/configure/pkcs11-keys.js";
import { configureBuild } from "../../lib/host/configure-build.js";
import { createNonAdminSecret } from "../../lib/secrets/non-admin.js";
import { HOME_BASE } from "../../lib/secrets/non-admin-paths.js";
import { createSoftHsm, type SoftHsm } from "./softhsm.js";
import { generateSshKey, startSshd, type Sshd, type SshKey } from "./sshd.js";
import { startSyslog, type SyslogListener } from "./syslog.js";
import { TestUsers } from "./users.js";

const exec = promisify(execFile);

/** The repository root (works from the .ts source and from dist/). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!dir.endsWith("/tests") && dir !== "/") dir = dirname(dir);
  dir = dirname(dir);
  return dir.endsWith("/dist") ? dirname(dir) : dir;
})();

export type SignerKind = "ed25519" | "p256" | "p384" | "p521" | "rsa2048";

export const KEY_SETUPS: Record<SignerKind, string> = {
  ed25519: `{ key_type = "Curve25519", key_mechanisms = ["EdDsaSignature"], signature_type = "EdDsa"`,
  p256: `{ key_type = "EcP256", key_mechanisms = ["EcdsaSignature"], signature_type = "EcdsaP256"`,
  p384: `{ key_type = "EcP384", key_mechanisms = ["EcdsaSignature"], signature_type = "EcdsaP384"`,
  p521: `{ key_type = "EcP521", key_mechanisms = ["EcdsaSignature"], signature_type = "EcdsaP521"`,
  rsa2048: `{ key_type = "Rsa", key_mechanisms = ["RsaSignaturePkcs1"], signature_type = "Pkcs1", key_length = 2048`,
};

export interface HostSigner {
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
  readonly sshd: Sshd;
  readonly syslog: SyslogListener;
  readonly signers: readonly HostSigner[];
  /** A user with SSH access whose role is not signing (wire_guard_download). */
  readonly otherRole: { readonly user: string; readonly sshKey: SshKey };
  /** With `baseline: true`: a user whose ForceCommand is /bin/true through the same sshd (benchmarks). */
  readonly baseline?: { readonly user: string; readonly sshKey: SshKey };
  readonly binDir: string;
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/** Executables the host wires up; each becomes a small wrapper in binDir that runs dist/bin/<name>.js. */
const EXECUTABLES = ["signstar-download-signature", "signstar-download-wireguard"];

export async function startSigningHost(opts: { signers: readonly SignerKind[]; baseline?: boolean }): Promise<SigningHost> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), "signstar-host-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o755);
    const users = new TestUsers();
    cleanups.push(() => users.removeAll());
    cleanups.push(async () => {
      for (const u of await users.list()) await rm(join(HOME_BASE, u.name), { recursive: true, force: true });
    });

    // SoftHSM token, shared by the signers through a group (PKCS#11 has one user PIN per token).
    const softhsm = await createSoftHsm({ tokens: [{ label: "signstar", userPin: "user-pin-123456", soPin: "so-pin-12345678" }] });
    cleanups.push(() => softhsm.cleanup());
    softhsm.activate();
    const group = users.name("hsm");
    await exec("groupadd", ["--system", group]);

    const binDir = join(dir, "bin");
    await mkdir(binDir, { mode: 0o755 });
    for (const name of EXECUTABLES) {
      const wrapper = join(binDir, name);
      await writeFile(wrapper, `#!/bin/sh\nexec ${process.execPath} ${join(REPO_ROOT, "dist", "bin", `${name}.js`)} "$@"\n`, { mode: 0o755 });
    }

    const keysDir = join(dir, "ssh-keys");
    await mkdir(keysDir, { mode: 0o700 });
    const signerUsers = opts.signers.map((kind) => ({ kind, user: users.name(`sign-${kind}`) }));
    const otherUser = users.name("wg");
    const baselineUser = opts.baseline ? users.name("true") : undefined;
    const sshKeys = new Map<string, SshKey>();
    for (const name of [...signerUsers.map((s) => s.user), otherUser, ...(baselineUser ? [baselineUser] : [])]) {
      sshKeys.set(name, await generateSshKey(keysDir, name));
    }

    const configText = [
      "[system]",
      "iteration = 1",
      'admin_secret_handling = "plaintext"',
      'non_admin_secret_handling = "plaintext"',
      "",
      "[[system.mappings]]",
      `wire_guard_download = { system_user = "${otherUser}", ssh_authorized_key = "${sshKeys.get(otherUser)!.publicKey}" }`,
      "",
      "[pkcs11]",
      `module = "${softhsm.module}"`,
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
    ].join("\n");
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
      signers.push({ kind, user, sshKey: sshKeys.get(user)!, certificate: ensured.certificate, certificateFile, fingerprint: ensured.fingerprint });
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
    await configureBuild({ config, root: renderRoot, binDir, manageUsers: false, out: () => undefined });

    const syslog = await startSyslog();
    cleanups.push(() => syslog.stop());
    const env = { SIGNSTAR_CONFIG: configFile, SOFTHSM2_CONF: softhsm.confPath, SIGNSTAR_LOG_SOCKET: syslog.socket };
    const sshd = await startSshd({
      includes: [join(renderRoot, "etc/ssh/sshd_config.d/*.conf")],
      allowUsers: [...signerUsers.map((s) => s.user), otherUser, ...(baselineUser ? [baselineUser] : [])],
      env,
      extraConfig: baselineConfig,
    });
    cleanups.push(() => sshd.stop());

    return {
      dir,
      configFile,
      users,
      softhsm,
      sshd,
      syslog,
      signers,
      otherRole: { user: otherUser, sshKey: sshKeys.get(otherUser)! },
      ...(baselineUser ? { baseline: { user: baselineUser, sshKey: sshKeys.get(baselineUser)! } } : {}),
      binDir,
      env,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function shareWithGroup(path: string, group: string): Promise<void> {
  await exec("chgrp", ["-R", group, path]);
  await exec("chmod", ["-R", "g+rwX", path]);
  const walk = async (p: string): Promise<void> => {
    if (!(await stat(p)).isDirectory()) return;
    await chmod(p, 0o2770);
    for (const entry of await readdir(p)) await walk(join(p, entry));
  };
  await walk(path);
}

export const resolveRepo = (...parts: string[]): string => resolve(REPO_ROOT, ...parts);
