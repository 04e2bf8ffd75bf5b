import { DEFAULT_BACKUP_UPLOAD_MAX_BYTES, MAX_BACKUP_BYTES } from "../../nethsm-backup/index.js";
import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, FILES_CONFIG, TOOL_CONFIG_OPTION, UPLOAD_ABORT_SIGNALS, maxBytesEnvironment, maxBytesOption } from "./common.js";

export const command = {
  name: "signstar-upload-backup",
  kind: "server",
  summary: "store a NetHSM backup for signstar-configure to restore (ForceCommand of backup_upload users)",
  description:
    "Reads a NetHSM backup on stdin, bounded in size and time, checks it offline (magic, version, framing, end marker; no passphrase " +
    "needed), and stores it atomically in the caller's upload spool, where signstar-configure takes it once the admin secret (which " +
    "holds the backup passphrase) is available. One upload at a time per user; refused when the file system lacks room for a full " +
    "upload plus 1 GiB. Prints a one-line JSON receipt. SSH_ORIGINAL_COMMAND is ignored.",
  synopsis: ["[--config FILE] [--max-bytes N] < file"],
  options: [TOOL_CONFIG_OPTION, maxBytesOption("SIGNSTAR_UPLOAD_BACKUP_MAX_BYTES", DEFAULT_BACKUP_UPLOAD_MAX_BYTES, MAX_BACKUP_BYTES, "backup")],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Remote", "Audit"],
  files: [...FILES_CONFIG, { path: `${hostLayout().userState("<user>", "uploads")}/backup.bin`, description: "the stored upload" }],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET, maxBytesEnvironment("SIGNSTAR_UPLOAD_BACKUP_MAX_BYTES")],
  examples: [{ command: "ssh upload@signer.example < nethsm.bkp", description: "upload a backup" }],
  seeAlso: ["signstar-download-backup(1)", "signstar-configure(8)"],
  audit: { early: false },
  abortOn: UPLOAD_ABORT_SIGNALS,
} as const satisfies CommandSpec;
