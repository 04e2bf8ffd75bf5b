import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, ENV_PKCS11, ENV_ROOT, FILES_CONFIG, FILE_SECRETS, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-signer",
  kind: "server",
  section: 8,
  summary: "the resident signer of one signing user (started by systemd socket activation)",
  description:
    "Runs as one signing user, holds that user's signing key open on its backend and answers the requests that the user's ForceCommand " +
    "(signstar-download-signature, a small forwarder) passes on its Unix socket, each exactly as the in-process signstar-download-signature " +
    "would: the same signature, audit entry, counters, one-line errors and exit codes. It follows secret rotation by signstar-configure " +
    "(including <file>.next), re-opens the key after a backend error, refuses connections of any other user (SO_PEERCRED), limits " +
    "concurrent and queued requests, and exits when idle. systemd passes the socket (signstar-signer@<user>.socket); without systemd it " +
    "binds /run/signstar/signer/<user>/socket itself (the directory must be the user's, mode 0700).",
  synopsis: ["[--config FILE]"],
  options: [TOOL_CONFIG_OPTION],
  exitCodes: ["Ok", "Internal", "Usage", "Config", "Denied", "Audit"],
  files: [
    ...FILES_CONFIG,
    FILE_SECRETS,
    { path: hostLayout().signerSocket("<user>"), description: "the socket (its directory is the user's own, mode 0700)" },
  ],
  environment: [
    ENV_CONFIG,
    ENV_LOG_SOCKET,
    ENV_ROOT,
    ...ENV_PKCS11,
    { name: "SIGNSTAR_SIGNER_CONCURRENT", description: "requests answered at once (1..1024, default 4; set by the unit drop-in from [system] signing_concurrency)" },
    { name: "SIGNSTAR_SIGNER_QUEUED", description: "requests waiting beyond those (0..1024, default 16; [system] signing_queue); more are refused with exit code 9" },
    { name: "SIGNSTAR_SIGNER_IDLE_SECONDS", description: "exit after this long without a connection (default 300)" },
    { name: "LISTEN_FDS", description: "set by systemd socket activation (sd_listen_fds(3))" },
  ],
  examples: [{ command: "systemctl enable --now signstar-signer@alice.socket", description: "what signstar-configure-build's unit links amount to" }],
  seeAlso: ["signstar-download-signature(1)", "signstar-configure-build(8)"],
  abortOn: ["SIGTERM", "SIGINT"],
  audit: { early: false },
} as const satisfies CommandSpec;
