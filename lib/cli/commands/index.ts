/**
 * Every executable's command table, for build scripts (man pages, shell completions, documentation): importing
 * this runs nothing but the tables' own definitions. The executables import only their own table.
 */
import type { CommandSpec } from "../command.js";
import { command as admin } from "./signstar-admin.js";
import { command as config } from "./signstar-config.js";
import { command as configure } from "./signstar-configure.js";
import { command as configureBuild } from "./signstar-configure-build.js";
import { command as downloadBackup } from "./signstar-download-backup.js";
import { command as downloadKeyCertificates } from "./signstar-download-key-certificates.js";
import { command as downloadMetrics } from "./signstar-download-metrics.js";
import { command as downloadSecretShare } from "./signstar-download-secret-share.js";
import { command as downloadSignature } from "./signstar-download-signature.js";
import { command as downloadWireGuard } from "./signstar-download-wireguard.js";
import { command as signer } from "./signstar-signer.js";
import { command as logWriter } from "./signstar-log-writer.js";
import { command as downloadLog } from "./signstar-download-log.js";
import { command as requestSignature } from "./signstar-request-signature.js";
import { command as uploadBackup } from "./signstar-upload-backup.js";
import { command as uploadSecretShare } from "./signstar-upload-secret-share.js";
import { command as uploadUpdate } from "./signstar-upload-update.js";

export const COMMANDS: readonly CommandSpec[] = [
  downloadSignature,
  signer,
  logWriter,
  downloadLog,
  downloadBackup,
  uploadBackup,
  downloadMetrics,
  downloadKeyCertificates,
  uploadUpdate,
  downloadWireGuard,
  downloadSecretShare,
  uploadSecretShare,
  configure,
  configureBuild,
  config,
  admin,
  requestSignature,
];
