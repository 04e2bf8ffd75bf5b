import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, ENV_PKCS11, ENV_SSH_COMMAND, FILES_CONFIG, FILE_SECRETS, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-download-key-certificates",
  kind: "server",
  summary: "print the OpenPGP certificates of all signing keys (ForceCommand of key_certificates users)",
  description:
    "Prints the OpenPGP certificates of every signing key of the configuration as one armored keyring, in configuration order, or a " +
    "JSON index (key, backend, system user, fingerprint, key id, SHA3-384 of the public key, user IDs, creation time, algorithm). " +
    "Each certificate is checked against the backend's public key of its key; a key without a certificate fails the call. NetHSM keys " +
    "are read with the calling user's operator users, PKCS#11 keys in a public session without PIN. With signing_log configured, the " +
    "signing log's verifier key ships with them: the keyring's armor header \"Comment: signstar-log <verifier key>\", the index's " +
    "signing_log field, or alone (log-vkey).",
  synopsis: ["[--config FILE] [--json]"],
  options: [TOOL_CONFIG_OPTION, { name: "json", type: "boolean", description: "print the JSON index instead of the keyring (local runs)" }],
  remoteCommands: [
    { command: "", description: "the armored keyring (also \"keyring\")" },
    { command: "json", description: "the JSON index" },
    { command: "log-vkey", description: "the signing log's verifier key line" },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "Config", "Denied", "Secret", "Backend", "Remote", "Audit"],
  files: [...FILES_CONFIG, FILE_SECRETS, { path: hostLayout().signingLogVerifierKey, description: "the signing log's verifier key (public; written by signstar-configure)" }],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET, ENV_SSH_COMMAND, ...ENV_PKCS11],
  examples: [
    { command: "ssh certs@signer.example > keys.asc", description: "the keyring, e.g. for gpg --import" },
    { command: "ssh certs@signer.example json", description: "the JSON index" },
    { command: "ssh certs@signer.example log-vkey > log.vkey", description: "the verifier key of the signing log" },
  ],
  seeAlso: ["signstar-download-signature(1)", "signstar-configure(8)"],
  audit: { early: false },
} as const satisfies CommandSpec;
