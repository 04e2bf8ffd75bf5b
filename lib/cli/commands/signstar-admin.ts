import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec, OptionSpec } from "../command.js";
import { ENV_CONFIG, ENV_ROOT, FILES_CONFIG } from "./common.js";

/** log list's bounds (lib/admin/signing-log.ts checks them). */
const DEFAULT_LIST_LIMIT = 1000;
const MAX_LIST_LIMIT = 100_000;

/** Where node_exporter's textfile collector reads (Debian's prometheus-node-exporter). */
export const DEFAULT_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";

const passphraseFile = {
  name: "passphrase-file",
  type: "string",
  value: "FILE",
  description: "the backup passphrase, read verbatim (a trailing newline is part of it): decrypt and check every entry",
} as const satisfies OptionSpec;
const config = { name: "config", type: "string", value: "FILE", description: "the configuration file (default: SIGNSTAR_CONFIG, else the search path)" } as const satisfies OptionSpec;
const textfileDir = {
  name: "textfile-dir",
  type: "string",
  value: "DIR",
  default: DEFAULT_TEXTFILE_DIR,
  description: "where node_exporter's textfile collector reads",
} as const satisfies OptionSpec;

const logKey = { name: "key", type: "string", value: "FPR", description: "log list: only the entries of this OpenPGP fingerprint" } as const satisfies OptionSpec;
const logUser = { name: "user", type: "string", value: "NAME", description: "log list: only the entries of this Unix user" } as const satisfies OptionSpec;
const logSince = { name: "since", type: "integer", value: "INDEX", description: "log list: start at this entry index" } as const satisfies OptionSpec;
const logLimit = { name: "limit", type: "integer", value: "N", default: DEFAULT_LIST_LIMIT, description: `log list: print at most N entries (1-${MAX_LIST_LIMIT})` } as const satisfies OptionSpec;

export const command = {
  name: "signstar-admin",
  kind: "admin",
  section: 8,
  summary: "administrator commands: check a backup offline, write hermetic metrics, make the WireGuard key pair, read the signing log",
  description:
    "validate-backup checks a NetHSM backup offline (any user): without a passphrase its structure, with the backup passphrase every " +
    "entry. write-hermetic-metrics (root; signstar-hermetic-metrics.timer) runs signstar-download-metrics as each hermetic metrics user " +
    "and writes what it printed to DIR/signstar-<user>.prom. wireguard-keygen (root; signstar-wireguard-keygen.service) makes the " +
    "host's WireGuard key pair if it is missing. log reads the signing log (any user; docs/tlog.md): `log vkey` prints its verifier key, " +
    "`log list` one line per entry (index, time, user, key fingerprint, digest; void entries: index, time, user, void), `log export DIR` " +
    "copies the checkpoint and the tiles and entry bundles it covers into the new directory DIR. Every read checks the checkpoint's " +
    "signature with the verifier key signstar-configure wrote and recomputes the tree from the entries; nothing is printed unless " +
    "it matches. When more entries match than --limit, stderr names the --since index to continue with.",
  synopsis: [
    "validate-backup [--passphrase-file FILE] BACKUP",
    "write-hermetic-metrics [--config FILE] [--textfile-dir DIR]",
    "wireguard-keygen",
    "log vkey|list|export [--config FILE] [--key FPR] [--user NAME] [--since INDEX] [--limit N] [DIR]",
  ],
  options: [passphraseFile, config, textfileDir, logKey, logUser, logSince, logLimit],
  subcommands: [
    {
      name: "validate-backup",
      summary: "check a NetHSM backup offline",
      synopsis: "validate-backup [--passphrase-file FILE] BACKUP",
      options: [passphraseFile],
      positionals: [{ name: "BACKUP", description: "the backup file" }],
    },
    {
      name: "write-hermetic-metrics",
      summary: "collect the hermetic metrics users' metrics into node_exporter textfiles (root)",
      synopsis: "write-hermetic-metrics [--config FILE] [--textfile-dir DIR]",
      options: [config, textfileDir],
      positionals: [],
    },
    { name: "wireguard-keygen", summary: "make the host's WireGuard key pair if it is missing (root)", synopsis: "wireguard-keygen", options: [], positionals: [] },
    {
      name: "log",
      summary: "the signing log: print its verifier key, list its entries (verified), export it",
      synopsis: "log vkey|list|export [--config FILE] [--key FPR] [--user NAME] [--since INDEX] [--limit N] [DIR]",
      options: [config, logKey, logUser, logSince, logLimit],
      positionals: [{ name: "ACTION", description: "vkey, list, or export followed by DIR (a new or empty directory)", variadic: true }],
    },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Secret", "Backend"],
  files: [
    ...FILES_CONFIG,
    { path: hostLayout().wireguardPrivateKey, description: "the host's WireGuard private key (root 0600)" },
    { path: hostLayout().wireguardPublicKey, description: "the host's WireGuard public key (0644)" },
    { path: `${DEFAULT_TEXTFILE_DIR}/signstar-<user>.prom`, description: "a hermetic metrics user's metrics" },
    { path: hostLayout().signingLogDir, description: "the signing log (read by log list and log export)" },
    { path: hostLayout().signingLogVerifierKey, description: "the signing log's verifier key (written by signstar-configure)" },
  ],
  environment: [ENV_CONFIG, ENV_ROOT],
  examples: [
    { command: "signstar-admin validate-backup --passphrase-file pass.txt nethsm.bkp", description: "decrypt and check a backup" },
    { command: "signstar-admin wireguard-keygen", description: "make the key pair (first boot)" },
    { command: "signstar-admin log list --user release --since 1000", description: "the signatures user release asked for, from entry 1000 on" },
    { command: "signstar-admin log export /srv/log-copy", description: "a consistent copy of the log (checkpoint, tiles, bundles)" },
  ],
  seeAlso: ["signstar-download-backup(1)", "signstar-download-metrics(1)", "signstar-download-wireguard(1)"],
} as const satisfies CommandSpec;
