import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, FILES_CONFIG, FILE_SECRETS, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-download-backup",
  kind: "server",
  summary: "stream a fresh NetHSM backup (ForceCommand of backup users)",
  description:
    "Has the NetHSM create a backup with the calling user's own Backup-role credentials (POST /system/backup), receives it whole " +
    "(bounded), checks its magic and framing with the offline backup reader and only then writes it to stdout, so a client never " +
    "receives a truncated or foreign stream that looks like a backup. SSH_ORIGINAL_COMMAND is ignored. The backup is encrypted with " +
    "the backup passphrase, which only the admin credentials hold.",
  synopsis: ["[--config FILE] > backup.bin"],
  options: [TOOL_CONFIG_OPTION],
  exitCodes: ["Ok", "Internal", "Usage", "Config", "Denied", "Secret", "Backend", "Remote", "Audit"],
  files: [...FILES_CONFIG, FILE_SECRETS],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET],
  examples: [{ command: "ssh backup@signer.example > nethsm.bkp", description: "download a backup" }],
  seeAlso: ["signstar-upload-backup(1)", "signstar-admin(8)"],
  audit: { early: false },
} as const satisfies CommandSpec;
