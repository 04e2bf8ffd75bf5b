import { DEFAULT_UPDATE_UPLOAD_MAX_BYTES, MAX_UPDATE_BYTES } from "../../nethsm-backup/index.js";
import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, FILES_CONFIG, TOOL_CONFIG_OPTION, UPLOAD_ABORT_SIGNALS, maxBytesEnvironment, maxBytesOption } from "./common.js";

export const command = {
  name: "signstar-upload-update",
  kind: "server",
  summary: "store a NetHSM update image for signstar-configure (ForceCommand of update_upload users)",
  description:
    "Reads a NetHSM update image on stdin, bounded in size and time, checks its header offline (magic, fields, \"major.minor\" " +
    "version, block count matching the size), and stores it atomically in the caller's upload spool; signstar-configure uploads it to " +
    "the NetHSM with admin credentials, where the device checks the vendor signature. One upload at a time per user. Prints a " +
    "one-line JSON receipt. SSH_ORIGINAL_COMMAND is ignored.",
  synopsis: ["[--config FILE] [--max-bytes N] < file"],
  options: [TOOL_CONFIG_OPTION, maxBytesOption("SIGNSTAR_UPLOAD_UPDATE_MAX_BYTES", DEFAULT_UPDATE_UPLOAD_MAX_BYTES, MAX_UPDATE_BYTES, "image")],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Remote", "Audit"],
  files: [...FILES_CONFIG, { path: `${hostLayout().userState("<user>", "uploads")}/update.bin`, description: "the stored upload" }],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET, maxBytesEnvironment("SIGNSTAR_UPLOAD_UPDATE_MAX_BYTES")],
  examples: [{ command: "ssh update@signer.example < nethsm-update.img", description: "upload an update image" }],
  seeAlso: ["signstar-configure(8)"],
  audit: { early: false },
  abortOn: UPLOAD_ABORT_SIGNALS,
} as const satisfies CommandSpec;
