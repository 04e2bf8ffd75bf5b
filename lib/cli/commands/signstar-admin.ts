import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec, OptionSpec } from "../command.js";
import { ENV_CONFIG, ENV_ROOT, FILES_CONFIG } from "./common.js";

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

export const command = {
  name: "signstar-admin",
  kind: "admin",
  section: 8,
  summary: "administrator commands: check a backup offline, write hermetic metrics, make the WireGuard key pair",
  description:
    "validate-backup checks a NetHSM backup offline (any user): without a passphrase its structure, with the backup passphrase every " +
    "entry. write-hermetic-metrics (root; signstar-hermetic-metrics.timer) runs signstar-download-metrics as each hermetic metrics user " +
    "and writes what it printed to DIR/signstar-<user>.prom. wireguard-keygen (root; signstar-wireguard-keygen.service) makes the " +
    "host's WireGuard key pair if it is missing.",
  synopsis: ["validate-backup [--passphrase-file FILE] BACKUP", "write-hermetic-metrics [--config FILE] [--textfile-dir DIR]", "wireguard-keygen"],
  options: [passphraseFile, config, textfileDir],
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
  ],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Secret", "Backend"],
  files: [
    ...FILES_CONFIG,
    { path: hostLayout().wireguardPrivateKey, description: "the host's WireGuard private key (root 0600)" },
    { path: hostLayout().wireguardPublicKey, description: "the host's WireGuard public key (0644)" },
    { path: `${DEFAULT_TEXTFILE_DIR}/signstar-<user>.prom`, description: "a hermetic metrics user's metrics" },
  ],
  environment: [ENV_CONFIG, ENV_ROOT],
  examples: [
    { command: "signstar-admin validate-backup --passphrase-file pass.txt nethsm.bkp", description: "decrypt and check a backup" },
    { command: "signstar-admin wireguard-keygen", description: "make the key pair (first boot)" },
  ],
  seeAlso: ["signstar-download-backup(1)", "signstar-download-metrics(1)", "signstar-download-wireguard(1)"],
} as const satisfies CommandSpec;
