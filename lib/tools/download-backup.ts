/**
 * signstar-download-backup (ForceCommand of backup users): has the NetHSM create a backup with the caller's
 * own Backup-role credentials (POST /system/backup) and returns it for stdout. The whole backup is received
 * (bounded) and its magic and framing are checked with the offline reader before a single byte is written,
 * so a client never receives a truncated or foreign stream that looks like a backup.
 */
import type { ConfigLocation } from "../config/load.js";
import { SignstarError, ExitCode } from "../errors.js";
import { withAudit } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import { MAX_BACKUP_BYTES, parseBackup } from "../nethsm-backup/index.js";
import type { Caller } from "../caller/caller.js";
import { callerSecret, requireRole } from "../caller/role.js";
import { backendError, openWithUserSecret } from "../backends/index.js";
import { createHash } from "node:crypto";

export const BACKUP_TIMEOUT_MS = 600_000;

export interface DownloadBackupInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  readonly stateRoot?: string;
  readonly timeoutMs?: number;
}

export async function downloadBackup(input: DownloadBackupInput): Promise<Buffer> {
  const { caller } = input;
  const events = {
    log: input.log,
    success: { event: "backup downloaded", severity: "notice" as const },
    refusal: "backup refused",
    fields: { user: caller.name, backend_user: "-" },
  };
  return withAudit(events, async (audit) => {
    const { config, mapping } = await requireRole(caller, input.config, ["backup"], "signstar-download-backup");
    if (mapping.backend !== "nethsm" || mapping.mapping.kind !== "backup") throw new SignstarError("backup mapping expected", ExitCode.Internal);
    const backendUser = mapping.mapping.backendUser;
    audit.set({ backend_user: backendUser });
    const { netHsmClientFor } = await import("../backends/nethsm/index.js");
    const options = { timeoutMs: input.timeoutMs ?? BACKUP_TIMEOUT_MS, maxResponseBytes: MAX_BACKUP_BYTES };
    // The backup itself is the first call that checks the passphrase (a Backup user may do nothing else).
    const { value: bytes } = await openWithUserSecret(mapping, callerSecret(config, caller, backendUser, input.stateRoot), async (passphrase) => {
      const client = netHsmClientFor(config, { user: backendUser, passphrase }, options);
      try {
        return await client.backup();
      } catch (e) {
        throw backendError(e, `NetHSM backup as ${backendUser}`);
      } finally {
        client.close();
      }
    });
    let parsed;
    try {
      parsed = parseBackup(bytes);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new SignstarError(`the NetHSM answered POST /system/backup with something that is not a complete backup: ${why}`, ExitCode.Backend);
    }
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    audit.set({ bytes: bytes.length, version: parsed.version, items: parsed.encryptedItems.length, sha256 });
    return bytes;
  });
}
