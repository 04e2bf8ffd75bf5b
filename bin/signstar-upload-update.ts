#!/usr/bin/env node
// ForceCommand of update_upload users: reads a NetHSM update image on stdin (bounded), validates it offline and stores it
// atomically for signstar-configure; prints a one-line JSON receipt. SSH_ORIGINAL_COMMAND is ignored.
// Size bound: --max-bytes N, else SIGNSTAR_UPLOAD_UPDATE_MAX_BYTES (set by the administrator, e.g. sshd SetEnv),
// else the default. Exit codes: README.md "Exit codes".
import { runUploadTool } from "../lib/tools/upload-command.js";
import { uploadUpdate } from "../lib/tools/upload-update.js";

runUploadTool("signstar-upload-update", "SIGNSTAR_UPLOAD_UPDATE_MAX_BYTES", uploadUpdate);
