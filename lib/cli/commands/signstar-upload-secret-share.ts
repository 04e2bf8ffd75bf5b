import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, FILES_CONFIG, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-upload-secret-share",
  kind: "server",
  summary: "upload a shareholder's share of the admin secret",
  description:
    "Reads one share line on stdin, verifies it against the host's share set (format, checksum, iteration, set, parameters, " +
    "commitment, issued to the caller), stores it once in the caller's tmpfs upload directory and says how many of the required shares " +
    "are present and when they are wiped. The same logic is reachable as `ssh holder@host upload` through signstar-download-secret-share.",
  synopsis: ["[--config FILE] [--root DIR] < share.txt"],
  options: [TOOL_CONFIG_OPTION, { name: "root", type: "string", value: "DIR", default: "/", description: "a root prefix for the state paths (tests and image builds)" }],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Secret", "Remote", "Audit"],
  files: [
    ...FILES_CONFIG,
    { path: hostLayout().publicShareSet, description: "the public part of the share set" },
    { path: hostLayout().shareUploadFile("<user>"), description: "the caller's uploaded share (tmpfs)" },
  ],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET],
  examples: [{ command: "signstar-upload-secret-share < share.txt", description: "upload as the shareholder" }],
  seeAlso: ["signstar-download-secret-share(1)", "signstar-configure(8)"],
  audit: { early: false },
} as const satisfies CommandSpec;
