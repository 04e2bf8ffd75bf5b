#!/usr/bin/env node
// ForceCommand of backup_upload users: reads a NetHSM backup on stdin (bounded), validates it offline and stores it
// atomically for signstar-configure; prints a one-line JSON receipt. SSH_ORIGINAL_COMMAND is ignored.
// Size bound: --max-bytes N, else SIGNSTAR_UPLOAD_BACKUP_MAX_BYTES (set by the administrator, e.g. sshd SetEnv),
// else the default. Exit codes: README.md "Exit codes".
import { uploadBackup } from "../lib/tools/upload-backup.js";
import { runUploadTool } from "../lib/tools/upload-command.js";

runUploadTool("signstar-upload-backup", "SIGNSTAR_UPLOAD_BACKUP_MAX_BYTES", uploadBackup);
