import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, ENV_ROOT, FILES_CONFIG, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-download-wireguard",
  kind: "server",
  summary: "print the host's WireGuard public key (ForceCommand of wire_guard_download users)",
  description:
    "Prints the host's WireGuard public key, made at first boot by signstar-admin wireguard-keygen " +
    "(signstar-wireguard-keygen.service). The file must be a regular file holding one base64 Curve25519 key. SSH_ORIGINAL_COMMAND is ignored.",
  synopsis: ["[--config FILE]"],
  options: [TOOL_CONFIG_OPTION],
  exitCodes: ["Ok", "Internal", "Usage", "Config", "Denied", "Remote", "Audit"],
  files: [...FILES_CONFIG, { path: hostLayout().wireguardPublicKey, description: "the host's WireGuard public key" }],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET, ENV_ROOT],
  examples: [{ command: "ssh wg@signer.example", description: "print the key for the peer's configuration" }],
  seeAlso: ["signstar-admin(8)"],
  audit: { early: false },
} as const satisfies CommandSpec;
