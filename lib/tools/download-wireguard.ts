/**
 * signstar-download-wireguard (ForceCommand of wire_guard_download users): prints the host's WireGuard public
 * key, `/etc/signstar/wireguard/public.key` (made at first boot by signstar-wireguard-keygen.service, see
 * ./operator/wireguard-keygen.ts). The file must be a regular file of one base64 Curve25519 key (44 characters).
 */
import type { ConfigLocation } from "../config/load.js";
import { ExitCode, SignstarError } from "../errors.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { withAudit } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import type { Caller } from "../caller/caller.js";
import { requireRole } from "../caller/role.js";
import { hostLayout } from "../layout/host-layout.js";

const KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** A WireGuard key in wg's encoding (base64 of 32 bytes), or undefined. */
export function parseWireGuardKey(text: string): string | undefined {
  const t = text.replace(/\r?\n$/, "");
  return KEY.test(t) && Buffer.from(t, "base64").length === 32 ? t : undefined;
}

export async function readWireGuardPublicKey(root?: string): Promise<string> {
  const path = hostLayout(root).wireguardPublicKey;
  let data: Buffer;
  try {
    // Root's own file (0644, made by wireguard-keygen); a link an image build made is followed.
    ({ data } = await readCheckedFile(path, { what: "WireGuard public key", maxBytes: 128, followSymlinks: true }));
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    const p = e.problem;
    throw new SignstarError(
      p.kind !== "open"
        ? `${path} is not a WireGuard public key file`
        : p.code === "ENOENT"
          ? `the WireGuard public key ${path} does not exist (is signstar-wireguard-keygen.service enabled?)`
          : `cannot read ${path}: ${p.code ?? "error"}`,
      ExitCode.Config,
    );
  }
  const key = parseWireGuardKey(data.toString("latin1"));
  if (key === undefined) throw new SignstarError(`${path} does not hold a WireGuard public key`, ExitCode.Config);
  return key;
}

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
