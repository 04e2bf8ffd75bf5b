/**
 * A host for the Shamir share / signstar-configure stories: real Unix users (three shareholders and signers),
 * an EMPTY SoftHSM (no token: signstar-configure initializes it), sshd drop-ins rendered by
 * signstar-configure-build, a real sshd whose ForceCommands run our compiled executables with `--root` pointing
 * at a temporary state root, and helpers to run signstar-configure (optionally killed at a crash point).
 *
 * Secret files of signing users must be where signstar-download-signature (which has no --root) reads them,
 * so `<root>/var/lib/signstar/home` is a symbolic link to the real /var/lib/signstar/home (test users have a
 * unique prefix there).
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { requireUser } from "../../lib/os/accounts.js";
import { ensureStateDirs } from "../../lib/secrets/state-dirs.js";
import { chmod, mkdir, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseConfig } from "../../lib/config/load.js";
import { configureBuild } from "../../lib/host/configure-build.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { KEY_SETUPS, REPO_ROOT, type SignerKind } from "./signing-host.js";
import { createSoftHsm, type SoftHsm } from "./softhsm.js";
import { generateSshKey, runSsh, startSshd, type Sshd, type SshKey, type SshResult } from "./sshd.js";
import { startSyslog, type SyslogListener } from "./syslog.js";
import { runSignalled } from "./run.js";
import { Cleanups, hostDir, hostUsers, shareWithGroup, tokenGroup, writeWrappers } from "./host-kit.js";
import type { TestUsers } from "./users.js";
import { startStandIn, type StandIn } from "./nethsm-standin/index.js";
import type { NetHsmConnection } from "../../lib/config/model.js";
import { httpsUrl } from "../../lib/config/primitives.js";

const HOME_BASE = hostLayout().homeBase;

/** A syntactically valid key for the backup user (nobody logs in as it in these tests). */
const BACKUP_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoaqAzWpBTvxkRMWs2npS0PoVH5YCQliEZHg9FS96BE backup@example.org";

const exec = promisify(execFile);

export const TOKEN_LABEL = "signstar";
export const BACKEND_USER = `pkcs11-token-label-${TOKEN_LABEL}`;

export interface HostUser {
  readonly user: string;
  readonly sshKey: SshKey;
}

export interface SignerSpec {
  readonly name: string;
  readonly kind: SignerKind;
}

export type Backend = "pkcs11" | "nethsm";

/** NetHSM names of a signer: operator user, key id, tag. */
export function netHsmNames(name: string): { user: string; key: string; tag: string } {
  return { user: `op${name}`, key: `${name}key`, tag: `${name}tag` };
}

export interface ConfigSpec {
  readonly iteration: number;
  /** Signing users present in this config (by suffix given to startSharesHost). */
  readonly signers: readonly string[];
  readonly admin?: "sss" | "plaintext";
}

export interface ConfigureResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SharesHost {
  readonly dir: string;
  readonly root: string;
  /** Where signstar-configure-build rendered the host's files (sshd and unit drop-ins, tmpfiles.d). */
  readonly renderRoot: string;
  /** The ForceCommand wrappers. */
  readonly binDir: string;
  readonly configFile: string;
  readonly users: TestUsers;
  readonly softhsm: SoftHsm;
  readonly sshd: Sshd;
  readonly syslog: SyslogListener;
  readonly holders: readonly HostUser[];
  readonly backend: Backend;
  /** The NetHSM stand-in (backend "nethsm"). */
  readonly standIn?: StandIn;
  readonly connection?: NetHsmConnection;
  readonly signers: ReadonlyMap<string, HostUser & { kind: SignerKind }>;
  /** NetHSM only: the backup_upload and update_upload users (in every config) and the update signing key. */
  readonly uploaders?: { readonly backup: string; readonly update: string; readonly updateKey: KeyObject; readonly keys: readonly string[] };
  /** A signing-capable user that is never a shareholder (for "non-shareholder upload"). */
  readonly env: Readonly<Record<string, string>>;
  /** Writes the config (sshd drop-ins were rendered once for all users at start). */
  writeConfig(spec: ConfigSpec): Promise<string>;
  configure(args?: readonly string[], env?: Readonly<Record<string, string>>): Promise<ConfigureResult>;
  ssh(user: HostUser, opts?: { command?: readonly string[]; input?: string | Uint8Array }): Promise<SshResult>;
  /** Empties the SoftHSM and the state root (fresh, unprovisioned host with the same users and sshd). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const EXECUTABLES = ["signstar-download-secret-share", "signstar-upload-secret-share", "signstar-download-signature"];

export async function startSharesHost(opts: {
  signers: readonly SignerSpec[];
  backend?: Backend;
  /** More `[system]` lines of every configuration written (e.g. the signing limits). */
  system?: readonly string[];
}): Promise<SharesHost> {
  const backend = opts.backend ?? "pkcs11";
  const cleanups = new Cleanups();
  const cleanup = (): Promise<void> => cleanups.run();
  try {
    const dir = await hostDir("signstar-shares-", cleanups);
    const root = join(dir, "root");
    const users = hostUsers(cleanups);

    const softhsm = await createSoftHsm({ tokens: [] });
    cleanups.push(() => softhsm.cleanup());
    const group = await tokenGroup(users);

    const binDir = join(dir, "bin");
    await writeWrappers(binDir, EXECUTABLES, (name) => (name === "signstar-download-signature" ? "" : ` --root ${root}`));

    const keysDir = join(dir, "ssh-keys");
    await mkdir(keysDir, { mode: 0o700 });
    const holders: HostUser[] = [];
    for (const suffix of ["sh1", "sh2", "sh3"]) {
      const user = users.name(suffix);
      await users.add(suffix, { home: join(HOME_BASE, user), createHome: true });
      holders.push({ user, sshKey: await generateSshKey(keysDir, user) });
    }
    const signers = new Map<string, HostUser & { kind: SignerKind }>();
    for (const s of opts.signers) {
      const user = users.name(s.name);
      await users.add(s.name, { home: join(HOME_BASE, user), createHome: true });
      await exec("usermod", ["-aG", group, user]);
      signers.set(s.name, { user, kind: s.kind, sshKey: await generateSshKey(keysDir, user) });
    }

    let standIn: StandIn | undefined;
    let connection: NetHsmConnection | undefined;
    let backupUser: string | undefined;
    let uploaders: { backup: string; update: string; updateKey: KeyObject; keys: string[] } | undefined;
    if (backend === "nethsm") {
      const vendor = generateKeyPairSync("rsa", { modulusLength: 2048 });
      standIn = await startStandIn({ rateLimitMs: 0, updateKey: vendor.publicKey });
      const s = standIn;
      cleanups.push(() => s.close());
      connection = { url: httpsUrl(standIn.url), tlsSecurity: { kind: "Fingerprints", sha256: [standIn.tls.fingerprint] } };
      backupUser = users.name("backup");
      await users.add("backup", { home: join(HOME_BASE, backupUser), createHome: true });
      uploaders = { backup: users.name("bupload"), update: users.name("uupload"), updateKey: vendor.privateKey, keys: [] };
      for (const [suffix, name] of [["bupload", uploaders.backup], ["uupload", uploaders.update]] as const) {
        await users.add(suffix, { home: join(HOME_BASE, name), createHome: true });
        // What configure-build's tmpfiles.d entry makes: the upload user's own uploads/ directory.
        const entry = await requireUser(name);
        await ensureStateDirs(undefined, name, "uploads", entry);
        uploaders.keys.push((await generateSshKey(keysDir, name)).publicKey);
      }
    }
    const configFile = join(dir, "config.toml");
    const renderRoot = join(dir, "render");
    const writeConfig = async (spec: ConfigSpec): Promise<string> => {
      const admin =
        spec.admin === "plaintext" ? '"plaintext"' : "{ shamirs-secret-sharing = { number_of_shares = 3, threshold = 2 } }";
      const text = [
        "[system]",
        `iteration = ${spec.iteration}`,
        `admin_secret_handling = ${admin}`,
        'non_admin_secret_handling = "plaintext"',
        ...(opts.system ?? []),
        ...(spec.admin === "plaintext"
          ? []
          : holders.flatMap((h) => ["", "[[system.mappings]]", `share_holder = { system_user = "${h.user}", ssh_authorized_key = "${h.sshKey.publicKey}" }`])),
        "",
        ...(backend === "nethsm" ? netHsmSection(spec) : pkcs11Section(spec)),
        "",
      ].join("\n");
      await writeFile(configFile, text, { mode: 0o644 });
      parseConfig(text, configFile);
      return text;
    };
    const netHsmSection = (spec: ConfigSpec): string[] => [
      "[nethsm]",
      `connections = [{ url = "${connection!.url}", tls_security = { fingerprints = { sha256 = ["${standIn!.tls.fingerprint}"] } } }]`,
      "",
      "[[nethsm.mappings]]",
      'admin = "admin"',
      "",
      "[[nethsm.mappings]]",
      `backup = { backend_user = "backup1", system_user = "${backupUser!}", ssh_authorized_key = "${BACKUP_KEY}" }`,
      "",
      "[[nethsm.mappings]]",
      `backup_upload = { system_user = "${uploaders!.backup}", ssh_authorized_key = "${uploaders!.keys[0]!}" }`,
      "",
      "[[nethsm.mappings]]",
      `update_upload = { system_user = "${uploaders!.update}", ssh_authorized_key = "${uploaders!.keys[1]!}" }`,
      ...spec.signers.flatMap((name) => {
        const s = signers.get(name);
        if (s === undefined) throw new Error(`unknown signer ${name}`);
        const n = netHsmNames(name);
        return [
          "",
          "[[nethsm.mappings]]",
          "[nethsm.mappings.signing]",
          `backend_user = "${n.user}"`,
          `signing_key_id = "${n.key}"`,
          `tag = "${n.tag}"`,
          `system_user = "${s.user}"`,
          `ssh_authorized_key = "${s.sshKey.publicKey}"`,
          `key_setup = ${KEY_SETUPS[s.kind]}, key_context = { openpgp = { user_ids = ["Signstar ${name} <${name}@signstar.test>"], version = "4" } } }`,
        ];
      }),
    ];
    const pkcs11Section = (spec: ConfigSpec): string[] => [
        "[pkcs11]",
        `module = "${softhsm.module}"`,
        "",
        "[[pkcs11.mappings]]",
        `admin = { token = { label = "${TOKEN_LABEL}" } }`,
        ...spec.signers.flatMap((name) => {
          const s = signers.get(name);
          if (s === undefined) throw new Error(`unknown signer ${name}`);
          return [
            "",
            "[[pkcs11.mappings]]",
            "[pkcs11.mappings.signing]",
            `system_user = "${s.user}"`,
            `ssh_authorized_key = "${s.sshKey.publicKey}"`,
            `token = { label = "${TOKEN_LABEL}" }`,
            `key = { label = "${name}-key" }`,
            `key_setup = ${KEY_SETUPS[s.kind]}, key_context = { openpgp = { user_ids = ["Signstar ${name} <${name}@signstar.test>"], version = "4" } } }`,
          ];
        }),
    ];

    const prepareRoot = async () => {
      await mkdir(join(root, "var/lib/signstar"), { recursive: true, mode: 0o755 });
      await symlink(HOME_BASE, join(root, HOME_BASE));
    };
    await mkdir(HOME_BASE, { recursive: true, mode: 0o755 });
    await prepareRoot();

    const syslog = await startSyslog();
    cleanups.push(() => syslog.stop());
    const env = { SIGNSTAR_CONFIG: configFile, SOFTHSM2_CONF: softhsm.confPath, SIGNSTAR_LOG_SOCKET: syslog.socket };
    // sshd reads its drop-ins once at start: render them for every user the tests will ever configure.
    const allUsers = await writeConfig({ iteration: 1, signers: opts.signers.map((s) => s.name) });
    await configureBuild({ config: parseConfig(allUsers, configFile), root: renderRoot, inPlace: true, binDir, manageUsers: false, out: () => undefined });
    const sshd = await startSshd({
      includes: [join(renderRoot, "etc/ssh/sshd_config.d/*.conf")],
      allowUsers: [...holders.map((h) => h.user), ...[...signers.values()].map((s) => s.user)],
      env,
    });
    cleanups.push(() => sshd.stop());
    await chmod(softhsm.dir, 0o755);

    const configure = async (args: readonly string[] = [], extraEnv: Readonly<Record<string, string>> = {}): Promise<ConfigureResult> => {
      const result: ConfigureResult = await runSignalled(process.execPath, [join(REPO_ROOT, "dist", "bin", "signstar-configure.js"), "--config", configFile, "--root", root, ...args], {
        env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", SOFTHSM2_CONF: softhsm.confPath, ...extraEnv },
      });
      await shareWithGroup(softhsm.tokenDir, group);
      return result;
    };

    const reset = async () => {
      for (const entry of await readdir(softhsm.tokenDir)) await rm(join(softhsm.tokenDir, entry), { recursive: true, force: true });
      await rm(root, { recursive: true, force: true });
      await prepareRoot();
      if (standIn) standIn.device.factoryReset();
      for (const u of [...holders, ...signers.values()]) {
        await rm(join(HOME_BASE, u.user, ".local"), { recursive: true, force: true });
      }
      for (const name of uploaders ? [uploaders.backup, uploaders.update] : []) {
        await rm(join(HOME_BASE, name, ".local"), { recursive: true, force: true });
        await ensureStateDirs(undefined, name, "uploads", await requireUser(name));
      }
    };

    await shareWithGroup(softhsm.tokenDir, group);
    return {
      dir,
      root,
      renderRoot,
      binDir,
      configFile,
      users,
      softhsm,
      sshd,
      syslog,
      holders,
      backend,
      ...(standIn ? { standIn } : {}),
      ...(connection ? { connection } : {}),
      signers,
      ...(uploaders ? { uploaders } : {}),
      env,
      writeConfig,
      configure,
      ssh: (u, o = {}) => runSsh({ sshd, user: u.user, identity: u.sshKey.privateKeyFile, ...o }),
      reset,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

