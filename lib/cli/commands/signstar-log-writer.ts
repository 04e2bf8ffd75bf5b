import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, ENV_ROOT, FILES_CONFIG, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-log-writer",
  kind: "server",
  section: 8,
  summary: "append signatures to the verifiable signing log (started by systemd socket activation)",
  description:
    "The one process that writes the signing log (docs/tlog.md): C2SP tlog-tiles, entry bundles and a checkpoint signed with the log's " +
    "Ed25519 key. Signing users' ForceCommands reserve an index, sign with it and commit their entry over its Unix socket; a commit is " +
    "answered only once the entry, its tiles and the new checkpoint are on disk (fsync, batched). Only the configuration's signing users " +
    "are served (SO_PEERCRED) and each entry carries the user name the kernel reported. It runs as its own system user, which owns the " +
    "log directory; the key comes from the systemd credential signstar-log-key, or --key (`--key -`: on standard input, how root hands " +
    "the root-only key file to a writer started without systemd). With the key on a PKCS#11 token or the NetHSM (signing_log's " +
    "pkcs11_token, nethsm_user/nethsm_key) there is no key file: the writer logs in with its own user's secret file, signs each checkpoint " +
    "there, and re-opens the key when a rotated secret or a restarted backend refuses it. Needs signing_log in [system].",
  synopsis: ["[--config FILE] [--key FILE]"],
  options: [TOOL_CONFIG_OPTION, { name: "key", type: "string", value: "FILE", description: "the log key file, or - for standard input (default: $CREDENTIALS_DIRECTORY/signstar-log-key)" }],
  exitCodes: ["Ok", "Internal", "Usage", "Config", "Secret", "Backend"],
  files: [
    ...FILES_CONFIG,
    { path: hostLayout().signingLogDir, description: "the log: checkpoint, tile/, tile/entries/ (owned by the log writer's user)" },
    { path: hostLayout().logWriterSocket, description: "the socket signing users append through" },
    { path: hostLayout().signingLogKey, description: "the log key (root 0600, made by signstar-configure; handed in, never opened by the writer's user)" },
  ],
  environment: [
    ENV_CONFIG,
    ENV_LOG_SOCKET,
    ENV_ROOT,
    { name: "CREDENTIALS_DIRECTORY", description: "set by systemd (LoadCredential=signstar-log-key:…): where the log key is read" },
    { name: "LISTEN_FDS", description: "set by systemd socket activation (sd_listen_fds(3))" },
  ],
  examples: [
    { command: "systemctl enable --now signstar-log-writer.socket", description: "start appending on the first signature" },
    {
      command: "runuser -u signstar-log -- signstar-log-writer --key - < /var/lib/signstar/log.key &",
      description: "without systemd: root opens the key file, the writer runs as its own user",
    },
    { command: "runuser -u signstar-log -- signstar-log-writer &", description: "without systemd, the log key on a token or the NetHSM" },
  ],
  seeAlso: ["signstar-download-signature(1)", "signstar-configure(8)"],
  abortOn: ["SIGTERM", "SIGINT"],
  audit: { early: false },
} as const satisfies CommandSpec;
