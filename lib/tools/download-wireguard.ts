/**
 * signstar-download-wireguard (ForceCommand of wire_guard_download users): prints the host's WireGuard public
 * key (made at first boot by signstar-wireguard-keygen.service; read and checked by lib/admin/wireguard.ts).
 */
import type { ConfigLocation } from "../config/load.js";
import { withAudit } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import type { Caller } from "../caller/caller.js";
import { requireRole } from "../caller/role.js";
import { readWireGuardPublicKey } from "../admin/wireguard.js";

export interface DownloadWireGuardInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  readonly root?: string;
}

export async function downloadWireGuard(input: DownloadWireGuardInput): Promise<string> {
  const events = {
    log: input.log,
    success: { event: "wireguard public key downloaded", severity: "info" as const },
    refusal: "wireguard public key refused",
    fields: { user: input.caller.name },
  };
  return withAudit(events, async () => {
    await requireRole(input.caller, input.config, ["wire_guard_download"], "signstar-download-wireguard");
    return `${await readWireGuardPublicKey(input.root)}\n`;
  });
}
