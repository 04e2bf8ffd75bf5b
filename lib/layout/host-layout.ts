/**
 * Every path Signstar uses on a host, named once, below an optional root prefix (tests and image builds render
 * or run below a directory; "" or "/" is the live system). A tree rendered for another system has two layouts,
 * the target's (file content) and the staging one (where it is written): `stagedLayout`. signstar-configure-build creates the directories the
 * tools read from these same names (tests/layout/host-layout.test.ts checks that per role), so the two cannot
 * drift apart.
 *
 *   /var/lib/signstar/                          state (root 0755)
 *     home/<user>/.local/state/signstar/        each Signstar user's home and state chain (root 0755)
 *       secrets/ shares/ uploads/               the user's leaves (lib/secrets/state-dirs.ts: owners, modes)
 *     metrics/signatures/<user>/                per signing user signature counters (lib/metrics)
 *     shares/ (record.json)                     root-only share store (lib/secrets/share-store.ts)
 *     share-set.json                            public part of the share set (lib/spool/shares.ts)
 *     share-status.json                         unconfirmed holders and the confirmation deadline (public, no secret)
 *     configure/state.json  backups/  creds/    signstar-configure's state, NetHSM backups, admin credentials
 *     log/                                      the signing log (owner signstar-log; lib/tlog, docs/tlog.md)
 *     log.key  log.vkey                         the log's key (root 0600) and its verifier key (public, 0644)
 *   /run/signstar/                              tmpfs
 *     share-uploads/<user>/share                uploaded shares
 *     share-keys/<set-id>/<user>.key            the keys staged shares are sealed with on disk (lost at a reboot)
 *     signer/<user>/socket                      a signing user's resident signer (dir: the user's, 0700) and
 *                                               its fallback's flock slots run.N, queue.N (lib/signer)
 *     log/writer.sock                           the log writer (dir: signstar-log 0755)
 *     p11-kit/pkcs11                            the p11-kit server socket (systemd/p11-kit-signstar.socket)
 *   /etc/signstar/wireguard/                    the host's WireGuard key pair
 *   /etc/signstar/p11-kit-signstar.env          the settings of p11-kit-signstar@.service
 *   /etc/ssh/signstar-user-<user>.authorized_keys, /etc/ssh/sshd_config.d/{00-signstar-hardening,10-signstar-user-<user>}.conf
 *   /usr/lib/tmpfiles.d/{signstar,signstar-user-<user>}.conf
 *   /etc/systemd/system/sockets.target.wants/signstar-signer@<user>.socket -> /usr/lib/systemd/system/signstar-signer@.socket
 *   /etc/systemd/system/sockets.target.wants/p11-kit-signstar.socket -> /usr/lib/systemd/system/p11-kit-signstar.socket   (p11-kit module)
 *   /etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf   the signers' limits from the configuration
 */
import { join } from "node:path";

/** `path` below `root` (undefined, "" or "/" mean the live system). */
export function underRoot(root: string | undefined, path: string): string {
  return root === undefined || root === "" || root === "/" ? path : join(root, path);
}

/**
 * The root prefix from the environment (`SIGNSTAR_ROOT`), if set and absolute. Only the administrator can set
 * it for a ForceCommand (sshd SetEnv, unit files): sshd ignores ~/.ssh/environment (PermitUserEnvironment no),
 * Debian's sshd_config accepts only `AcceptEnv LANG LC_*` from clients, and a Signstar user cannot write a
 * ~/.pam_environment (its home is root:root 0755). Secrets never move with it (see lib/secrets/non-admin-paths.ts).
 */
export function rootFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const root = env["SIGNSTAR_ROOT"];
  return root !== undefined && root.startsWith("/") ? root : undefined;
}

/** The directories a Signstar user may have below its `.local/state/signstar`. */
export type UserStateLeaf = "secrets" | "shares" | "uploads";

const STATE = "/var/lib/signstar";
const RUN = "/run/signstar";
const SSH = "/etc/ssh";
const SSHD_DROP_INS = "/etc/ssh/sshd_config.d";
const TMPFILES = "/usr/lib/tmpfiles.d";
const SYSTEMD_UNITS = "/usr/lib/systemd/system";
const SOCKETS_WANTS = "/etc/systemd/system/sockets.target.wants";
/** systemd/p11-kit-signstar.socket: the p11-kit server's socket unit (one instance of its service per connection). */
export const P11_KIT_SOCKET_UNIT = "p11-kit-signstar.socket";
const SIGNER_SERVICE_DROP_INS = "/etc/systemd/system/signstar-signer@.service.d";
const LOG_WRITER_SERVICE_DROP_INS = "/etc/systemd/system/signstar-log-writer.service.d";
/** Below a user's home, each component root:root 0755. */
const USER_STATE_CHAIN = [".local", "state", "signstar"] as const;

export interface HostLayout {
  /** The root prefix ("" on the live system, else a directory without trailing slash). */
  readonly root: string;
  /** Any other path below the root. */
  under(path: string): string;

  /** /var/lib/signstar */
  readonly stateDir: string;
  /** /var/lib/signstar/home: the anchor of every home (root 0755). */
  readonly homeBase: string;
  /** /var/lib/signstar/home/<user> */
  home(user: string): string;
  /** The home and every directory down to `.local/state/signstar`, top-down (all root:root 0755). */
  userStateChain(user: string): readonly string[];
  /** `<home>/.local/state/signstar` or one of its leaves. */
  userState(user: string, leaf?: UserStateLeaf): string;

  /** /var/lib/signstar/metrics */
  readonly metricsDir: string;
  /** /var/lib/signstar/metrics/signatures: the signature counters' base (root 0755). */
  readonly signatureCountersDir: string;
  /** /var/lib/signstar/metrics/signatures/<user>: one signing user's counters (owned by it). */
  signatureCounters(user: string): string;

  /** /var/lib/signstar/shares: the root-only share store. */
  readonly shareStoreDir: string;
  /** /var/lib/signstar/shares/record.json */
  readonly shareRecord: string;
  /** /var/lib/signstar/share-set.json: the public part of the share set (the share tools read it). */
  readonly publicShareSet: string;
  /** /var/lib/signstar/share-status.json: which holders have not confirmed their share (configure and the timer write it, metrics read it). */
  readonly shareStatus: string;
  /** /run/signstar (tmpfs). */
  readonly runDir: string;
  /** /run/signstar/share-uploads (tmpfs). */
  readonly shareUploadsDir: string;
  /** /run/signstar/share-uploads/<user> */
  shareUploadDir(user: string): string;
  /** /run/signstar/share-uploads/<user>/share */
  shareUploadFile(user: string): string;
  /** /run/signstar/share-keys (tmpfs): the keys staged shares are sealed with (lib/secrets/share-seal.ts). */
  readonly shareKeysDir: string;
  /** /run/signstar/share-keys/<set-id>/<user>.key */
  shareKey(setId: string, user: string): string;

  /** /var/lib/signstar/configure/state.json: the last applied configuration iteration. */
  readonly configureState: string;
  /** /var/lib/signstar/backups: NetHSM backups taken by signstar-configure. */
  readonly backupsDir: string;
  /** /var/lib/signstar/creds: admin credentials (plaintext / systemd-creds handling). */
  readonly credsDir: string;

  /** /etc/signstar/wireguard */
  readonly wireguardDir: string;
  readonly wireguardPublicKey: string;
  readonly wireguardPrivateKey: string;

  /** /etc/ssh */
  readonly sshDir: string;
  /** /etc/ssh/sshd_config.d */
  readonly sshdDropInDir: string;
  /** /etc/ssh/sshd_config.d/00-signstar-hardening.conf */
  readonly hardeningDropIn: string;
  /** /etc/ssh/sshd_config.d/10-signstar-user-<user>.conf */
  userSshdDropIn(user: string): string;
  /** /etc/ssh/signstar-user-<user>.authorized_keys */
  userAuthorizedKeys(user: string): string;
  /** /usr/lib/tmpfiles.d */
  readonly tmpfilesDir: string;
  /** /usr/lib/tmpfiles.d/signstar.conf: the host-wide state directories. */
  readonly stateTmpfiles: string;
  /** /usr/lib/tmpfiles.d/signstar-user-<user>.conf */
  userTmpfiles(user: string): string;

  /** /var/lib/signstar/log: the append-only signing log (owned by the log writer's user). */
  readonly signingLogDir: string;
  /** /var/lib/signstar/log.key: the log's Ed25519 key (root 0600; systemd/signstar-log-writer.service names it too). */
  readonly signingLogKey: string;
  /** /var/lib/signstar/log.vkey: the log's verifier key line (public, root 0644), written by signstar-configure. */
  readonly signingLogVerifierKey: string;
  /** /run/signstar/log: the log writer's runtime directory (its user's, 0755). */
  readonly logWriterRunDir: string;
  /** /run/signstar/log/writer.sock: the log writer's socket. */
  readonly logWriterSocket: string;
  /** /usr/lib/tmpfiles.d/signstar-log.conf: the log directories (with signing_log only). */
  readonly logTmpfiles: string;
  /** /etc/systemd/system/sockets.target.wants/signstar-log-writer.socket: the log writer, enabled. */
  readonly logWriterSocketWants: string;
  /** /run/signstar/signer: root 0755; one directory per signing user below it. */
  readonly signersDir: string;
  /** /run/signstar/signer/<user>: the user's own (0700); the socket and the fallback's flock slots. */
  signerDir(user: string): string;
  /** /run/signstar/signer/<user>/socket: a signing user's resident signer (lib/signer/native/forwarder.c names it too). */
  signerSocket(user: string): string;
  /** /run/signstar/p11-kit/pkcs11: where p11-kit-signstar.socket listens. */
  readonly p11KitSocket: string;
  /** /etc/signstar/p11-kit-signstar.env: the module and token p11-kit-signstar@.service serves (the operator's). */
  readonly p11KitEnv: string;
  /** /etc/systemd/system/sockets.target.wants/p11-kit-signstar.socket: the p11-kit server, enabled (p11-kit module). */
  readonly p11KitSocketWants: string;
  /** /usr/lib/systemd/system: the package's units (signstar-signer@.socket …). */
  readonly systemdUnitDir: string;
  /** /etc/systemd/system/sockets.target.wants: enabled socket units (links). */
  readonly socketsWantsDir: string;
  /** /etc/systemd/system/sockets.target.wants/signstar-signer@<user>.socket: a signing user's signer, enabled. */
  signerSocketWants(user: string): string;
  /** /etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf: every signer's limits (configure-build). */
  readonly signerServiceDropIn: string;
  /** /etc/systemd/system/signstar-log-writer.service.d/10-signstar-log-key.conf: where the writer's key comes from (configure-build, with signing_log). */
  readonly logWriterServiceDropIn: string;
}

/** The managed files of signstar-configure-build are recognised by these name patterns (stale ones are removed). */
export interface ManagedFilePattern {
  readonly dir: string;
  readonly prefix: string;
  readonly suffix: string;
}

/** The layout below `root` (see the module comment). */
export function hostLayout(root?: string): HostLayout {
  const r = root === undefined || root === "" || root === "/" ? "" : root.replace(/\/+$/, "");
  const at = (path: string): string => underRoot(r, path);
  const home = (user: string): string => at(join(STATE, "home", user));
  const chain = (user: string): string[] => {
    const out = [home(user)];
    for (const part of USER_STATE_CHAIN) out.push(join(out[out.length - 1]!, part));
    return out;
  };
  const userState = (user: string, leaf?: UserStateLeaf): string => {
    const dir = chain(user)[USER_STATE_CHAIN.length]!;
    return leaf === undefined ? dir : join(dir, leaf);
  };
  return {
    root: r,
    under: at,
    stateDir: at(STATE),
    homeBase: at(join(STATE, "home")),
    home,
    userStateChain: chain,
    userState,
    metricsDir: at(join(STATE, "metrics")),
    signatureCountersDir: at(join(STATE, "metrics", "signatures")),
    signatureCounters: (user) => at(join(STATE, "metrics", "signatures", user)),
    shareStoreDir: at(join(STATE, "shares")),
    shareRecord: at(join(STATE, "shares", "record.json")),
    publicShareSet: at(join(STATE, "share-set.json")),
    shareStatus: at(join(STATE, "share-status.json")),
    runDir: at(RUN),
    shareUploadsDir: at(join(RUN, "share-uploads")),
    shareUploadDir: (user) => at(join(RUN, "share-uploads", user)),
    shareUploadFile: (user) => at(join(RUN, "share-uploads", user, "share")),
    shareKeysDir: at(join(RUN, "share-keys")),
    shareKey: (setId, user) => at(join(RUN, "share-keys", setId, `${user}.key`)),
    configureState: at(join(STATE, "configure", "state.json")),
    backupsDir: at(join(STATE, "backups")),
    credsDir: at(join(STATE, "creds")),
    wireguardDir: at("/etc/signstar/wireguard"),
    wireguardPublicKey: at("/etc/signstar/wireguard/public.key"),
    wireguardPrivateKey: at("/etc/signstar/wireguard/private.key"),
    sshDir: at(SSH),
    sshdDropInDir: at(SSHD_DROP_INS),
    hardeningDropIn: at(join(SSHD_DROP_INS, "00-signstar-hardening.conf")),
    userSshdDropIn: (user) => at(join(SSHD_DROP_INS, `10-signstar-user-${user}.conf`)),
    userAuthorizedKeys: (user) => at(join(SSH, `signstar-user-${user}.authorized_keys`)),
    tmpfilesDir: at(TMPFILES),
    stateTmpfiles: at(join(TMPFILES, "signstar.conf")),
    userTmpfiles: (user) => at(join(TMPFILES, `signstar-user-${user}.conf`)),
    signingLogDir: at(join(STATE, "log")),
    signingLogKey: at(join(STATE, "log.key")),
    signingLogVerifierKey: at(join(STATE, "log.vkey")),
    logWriterRunDir: at(join(RUN, "log")),
    logWriterSocket: at(join(RUN, "log", "writer.sock")),
    logTmpfiles: at(join(TMPFILES, "signstar-log.conf")),
    logWriterSocketWants: at(join(SOCKETS_WANTS, "signstar-log-writer.socket")),
    signersDir: at(join(RUN, "signer")),
    signerDir: (user) => at(join(RUN, "signer", user)),
    signerSocket: (user) => at(join(RUN, "signer", user, "socket")),
    p11KitSocket: at(join(RUN, "p11-kit", "pkcs11")),
    p11KitEnv: at("/etc/signstar/p11-kit-signstar.env"),
    systemdUnitDir: at(SYSTEMD_UNITS),
    socketsWantsDir: at(SOCKETS_WANTS),
    signerSocketWants: (user) => at(join(SOCKETS_WANTS, `signstar-signer@${user}.socket`)),
    p11KitSocketWants: at(join(SOCKETS_WANTS, P11_KIT_SOCKET_UNIT)),
    signerServiceDropIn: at(join(SIGNER_SERVICE_DROP_INS, "10-signstar-limits.conf")),
    logWriterServiceDropIn: at(join(LOG_WRITER_SERVICE_DROP_INS, "10-signstar-log-key.conf")),
  };
}

/**
 * Where a rendered tree is written and how the system it is for sees it. Every path that goes into a rendered
 * file (sshd drop-ins, tmpfiles.d entries, passwd homes, unit links) comes from `target`; every path
 * signstar-configure-build writes, creates or reads back comes from `staged`. `--root DIR` stages below DIR for a
 * system that will see the tree at / (an image, a container, a chroot): the files name /etc/ssh/…, never DIR.
 * On the live system both are the same layout.
 */
export interface StagedLayout {
  /** The paths as the target system sees them (the content of files). */
  readonly target: HostLayout;
  /** The paths on this machine (where files are written). */
  readonly staged: HostLayout;
}

export interface StagedLayoutOptions {
  /**
   * The tree is used where it is written: the target system sees it below the staging root too (tests that run a
   * second sshd on a tree rendered into a temporary directory on this machine). Default: the target sees it at /.
   */
  readonly inPlace?: boolean;
}

/** The layouts of a tree staged below `stagingRoot` ("" or "/" for the live system). */
export function stagedLayout(stagingRoot?: string, opts: StagedLayoutOptions = {}): StagedLayout {
  const staged = hostLayout(stagingRoot);
  return { staged, target: opts.inPlace === true ? staged : hostLayout() };
}

/** Per-user files of signstar-configure-build, by directory and name pattern (a removed user's are stale). */
export function managedFilePatterns(layout: HostLayout): readonly ManagedFilePattern[] {
  return [
    { dir: layout.tmpfilesDir, prefix: "signstar-user-", suffix: ".conf" },
    { dir: layout.sshDir, prefix: "signstar-user-", suffix: ".authorized_keys" },
    { dir: layout.sshdDropInDir, prefix: "10-signstar-user-", suffix: ".conf" },
    { dir: layout.socketsWantsDir, prefix: "signstar-signer@", suffix: ".socket" },
  ];
}
