import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, ENV_ROOT, ENV_SSH_COMMAND, FILES_CONFIG, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-download-log",
  kind: "server",
  summary: "serve one file of the signing log (ForceCommand of log_reader users)",
  description:
    "Prints one file of the signing log (C2SP tlog-tiles) exactly as stored: the signed checkpoint, a hash tile or an entry bundle, " +
    "named by the command the SSH client asks for. Nothing but those paths is accepted (one grammar, no other file of the directory, " +
    "no symbolic links); a malformed path exits 3, a well-formed path the log does not hold yet (e.g. a tile beyond its size, or a " +
    "partial tile that became full) exits 11. One file per call; a client verifies offline with signstar-request-signature verify-log.",
  synopsis: ["[--config FILE]"],
  options: [TOOL_CONFIG_OPTION],
  remoteCommands: [
    { command: "", description: "the checkpoint (also \"checkpoint\")" },
    { command: "tile/<L>/<N>[.p/<W>]", description: "a hash tile: level L, index N in x-prefixed groups of three digits (x001/234), W hashes if partial" },
    { command: "tile/entries/<N>[.p/<W>]", description: "an entry bundle" },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Remote", "Audit", "NotFound"],
  files: [...FILES_CONFIG, { path: hostLayout().signingLogDir, description: "the signing log (written by signstar-log-writer only)" }],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET, ENV_SSH_COMMAND, ENV_ROOT],
  examples: [
    { command: "ssh reader@signer.example checkpoint", description: "the signed checkpoint" },
    { command: "ssh reader@signer.example tile/entries/x001/234.p/7", description: "a partial entry bundle" },
  ],
  seeAlso: ["signstar-request-signature(1)", "signstar-log-writer(8)"],
  audit: { early: false },
} as const satisfies CommandSpec;
