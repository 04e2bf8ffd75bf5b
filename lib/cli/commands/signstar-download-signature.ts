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
    "the client's SHA-512 state, with the creation time, issuer and file digest chosen here) on stdout. Installed as a small C forwarder " +
    "that hands the request to the user's resident signer (signstar-signer, /run/signstar/signer/<user>/socket) and runs this Node " +
    "implementation (signstar-download-signature.js) itself when none answers. SSH_ORIGINAL_COMMAND is ignored: " +
    "the user runs this and nothing else. Every request is an audit entry in the system log and counted for the metrics export. Root " +
    "and users without a signing mapping are refused; a malformed request fails before any file or HSM is touched.",
  synopsis: ["[--config FILE] < request.json"],
  options: [TOOL_CONFIG_OPTION],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Secret", "Backend", "Remote", "Busy", "Audit"],
  files: [
    ...FILES_CONFIG,
    FILE_SECRETS,
    { path: `${hostLayout().signatureCounters("<user>")}/counters.json`, description: "the calling user's signature counters" },
  ],
  environment: [
    ENV_CONFIG,
    ENV_LOG_SOCKET,
    ENV_ROOT,
    ...ENV_PKCS11,
    {
      name: "SIGNSTAR_SIGNER_CONCURRENT",
      description: "the forwarder's fallback (no resident signer): this user's requests run at once (default 4; sshd SetEnv from [system] signing_concurrency)",
    },
    { name: "SIGNSTAR_SIGNER_QUEUED", description: "the forwarder's fallback: this user's requests that wait for a free place (default 16; [system] signing_queue)" },
  ],
  examples: [
    { command: "signstar-request-signature send --host signer.example --user alice --agent --known-hosts kh FILE", description: "what a client runs; sshd starts this tool as alice" },
  ],
  seeAlso: ["signstar-request-signature(1)", "signstar-configure(8)", "signstar-download-key-certificates(1)"],
  audit: { early: true },
} as const satisfies CommandSpec;
