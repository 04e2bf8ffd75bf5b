import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, ENV_SSH_COMMAND, FILES_CONFIG, TOOL_CONFIG_OPTION } from "./common.js";

const live = hostLayout();

export const command = {
  name: "signstar-download-secret-share",
  kind: "server",
  summary: "download, confirm or upload a shareholder's share of the admin secret (ForceCommand of shareholders)",
  description:
    "One executable for every direction, chosen by the command the SSH client asks for (SSH_ORIGINAL_COMMAND, whitelisted): none or " +
    "\"download\" prints the caller's share and, on stderr, the command that confirms it; \"confirm CODE\" (the first 8 hex digits of the " +
    "SHA-256 of the share line) removes it from the host; \"upload\" reads a share on stdin and verifies it against the share set. " +
    "Until confirmed, the share stays on the host and can be downloaded again. It runs as the shareholder and touches only its own spool files.",
  synopsis: ["[--config FILE] [--root DIR]"],
  options: [TOOL_CONFIG_OPTION, { name: "root", type: "string", value: "DIR", default: "/", description: "a root prefix for the state paths (tests and image builds)" }],
  remoteCommands: [
    { command: "", description: "print the caller's share (also \"download\")" },
    { command: "confirm CODE", description: "the caller has stored its share: remove it from the host" },
    { command: "upload", description: "read the caller's share on stdin (as signstar-upload-secret-share)" },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Secret", "Remote", "Audit"],
  files: [
    ...FILES_CONFIG,
    { path: live.publicShareSet, description: "the public part of the share set" },
    { path: `${live.userState("<user>", "shares")}/<set-id>.{share,claimed,fetched}`, description: "the caller's staged, downloaded and confirmed share" },
    { path: live.shareUploadFile("<user>"), description: "the caller's uploaded share (tmpfs)" },
  ],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET, ENV_SSH_COMMAND],
  examples: [
    { command: "ssh holder@signer.example > share.txt", description: "download the share" },
    { command: "ssh holder@signer.example confirm 1a2b3c4d", description: "confirm it was stored: the host forgets it" },
    { command: "ssh holder@signer.example upload < share.txt", description: "upload it when the operator asks for it" },
  ],
  seeAlso: ["signstar-upload-secret-share(1)", "signstar-configure(8)"],
  audit: { early: false },
  // A hung-up session (SIGHUP) or a stop (SIGTERM) puts a fresh claim back before exiting.
  abortOn: ["SIGHUP", "SIGTERM"],
  abortExitAfterMs: 200,
} as const satisfies CommandSpec;
