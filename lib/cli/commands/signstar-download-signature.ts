import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, ENV_PKCS11, ENV_ROOT, FILES_CONFIG, FILE_SECRETS, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-download-signature",
  aliases: ["signstar-sign"],
  kind: "server",
  summary: "issue an OpenPGP signature for a signing request (ForceCommand of signing users)",
  description:
    "Reads one signing request (JSON, at most 64 KiB, within 10 s) on stdin, finds the calling user's signing key in the configuration, " +
    "opens it on its backend with the user's own secret and writes the signing response (JSON with an armored OpenPGP v4 signature over " +
    "the client's SHA-512 state, with the creation time, issuer and file digest chosen here) on stdout. SSH_ORIGINAL_COMMAND is ignored: " +
    "the user runs this and nothing else. Every request is an audit entry in the system log and counted for the metrics export. Root " +
    "and users without a signing mapping are refused; a malformed request fails before any file or HSM is touched.",
  synopsis: ["[--config FILE] < request.json"],
  options: [TOOL_CONFIG_OPTION],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Secret", "Backend", "Remote"],
  files: [
    ...FILES_CONFIG,
    FILE_SECRETS,
    { path: `${hostLayout().signatureCounters("<user>")}/counters.json`, description: "the calling user's signature counters" },
  ],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET, ENV_ROOT, ...ENV_PKCS11],
  examples: [
    { command: "signstar-request-signature send --host signer.example --user alice --agent --known-hosts kh FILE", description: "what a client runs; sshd starts this tool as alice" },
  ],
  seeAlso: ["signstar-request-signature(1)", "signstar-configure(8)", "signstar-download-key-certificates(1)"],
  audit: { early: true },
} as const satisfies CommandSpec;
