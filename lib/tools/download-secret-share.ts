/**
 * signstar-download-secret-share: the ForceCommand of shareholders (role share_holder).
 *
 * One executable serves every direction, chosen by the command the client asks for (SSH_ORIGINAL_COMMAND,
 * whitelisted): empty or `download` prints the caller's own share and the command that confirms it;
 * `confirm <code>` (the first 8 hex digits of the SHA-256 of the share line) wipes it from the host; `upload`
 * reads a share on stdin (signstar-upload-secret-share's logic). Anything else is refused. Until confirmed, the
 * share stays on the host and the holder can download it again (nothing is lost when the client vanished after
 * the bytes left). It runs as the shareholder, never as root: it reads and writes only the caller's own spool
 * files (see lib/spool/shares.ts).
 */
import type { ConfigLocation } from "../config/load.js";
import { ExitCode, SignstarError } from "../errors.js";
import { withAudit } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import type { Readable, Writable } from "node:stream";
import { claimDownload, confirmDownload, readPublicShareSet } from "../spool/shares.js";
import { confirmationCode } from "../secrets/share-claim.js";
import type { Caller } from "../caller/caller.js";
import { requireShareholder, type ShareToolInput } from "../caller/role.js";


/** The subcommands a shareholder may ask for. */
export type ShareCommand = "download" | "upload" | "confirm";

const USAGE = 'a shareholder may run "download" (the default), "confirm <code>" or "upload"';

/** Maps SSH_ORIGINAL_COMMAND to a subcommand (undefined/empty → download); anything else is a usage error. */
export function shareCommandOf(original: string | undefined): ShareCommand {
  const c = (original ?? "").trim();
  if (c === "" || c === "download") return "download";
  if (c === "upload") return "upload";
  if (/^confirm(\s|$)/.test(c)) {
    confirmCodeOf(c);
    return "confirm";
  }
  // Quoted with escapes (and, as every message, stripped of control characters by oneLine): never the raw text.
  throw new SignstarError(`unknown command ${JSON.stringify(c.slice(0, 40))}: ${USAGE}`, ExitCode.Usage);
}

/** The code of `confirm <code>`: exactly 8 hex digits (lower-cased). */
export function confirmCodeOf(original: string | undefined): string {
  const m = /^confirm\s+([0-9A-Fa-f]{8})$/.exec((original ?? "").trim());
  if (!m?.[1]) throw new SignstarError('"confirm" needs the 8 hex digits the download printed, e.g. "confirm 1a2b3c4d"', ExitCode.Usage);
  return m[1].toLowerCase();
}


export type { ShareToolInput } from "../caller/role.js";

/**
 * The command that confirms a download, aimed where the holder connected: sshd sets SSH_CONNECTION to
 * "client-address client-port server-address server-port" (sshd(8), ENVIRONMENT). The host's own name could
 * be another address or miss the port (a second sshd, a jump host, NAT), so without SSH_CONNECTION the hint
 * says to use the same host and port as the download instead of guessing.
 */
export function confirmCommand(user: string, sshConnection: string | undefined, code: string): string {
  const parts = (sshConnection ?? "").trim().split(/\s+/);
  const [address, port] = [parts[2], parts[3]];
  if (parts.length === 4 && address !== undefined && /^[0-9A-Fa-f.:]{2,45}$/.test(address) && port !== undefined && /^[1-9][0-9]{0,4}$/.test(port) && Number(port) <= 65535) {
    return `ssh ${port === "22" ? "" : `-p ${port} `}${user}@${address} confirm ${code}`;
  }
  return `ssh ${user}@<the host and port you downloaded from> confirm ${code}`;
}

export interface DownloadInput extends ShareToolInput {
  /** Writes the share line (stdout). */
  readonly write: (text: string) => Promise<void>;
  /** Tells the holder how to confirm (stderr, so that `ssh holder@host > share` keeps a clean share file). */
  readonly notify?: (text: string) => Promise<void>;
  /** Aborted on SIGHUP/SIGTERM: a fresh claim is put back. */
  readonly signal?: AbortSignal;
  /** SSH_CONNECTION of the session: the confirm hint names the address and port the holder connected to. */
  readonly sshConnection?: string | undefined;
}

/**
 * Writes the caller's share (one line) through `write` and the confirm command through `notify`. The share is
 * claimed before it is written and stays claimed (downloadable again by the holder) until `confirm <code>`; it is
 * put back when writing failed or the session was hung up.
 */
export async function downloadSecretShare(input: DownloadInput): Promise<void> {
  const { caller, log } = input;
  const events = { log, success: { event: "secret share downloaded", severity: "notice" as const }, refusal: "secret share download refused", fields: { user: caller.name } };
  await withAudit(events, async (audit) => {
    await requireShareholder(input);
    const set = await readPublicShareSet(input.root);
    const claim = await claimDownload(input.root, caller, set);
    const release = (): void => void claim.release().catch(() => undefined);
    input.signal?.addEventListener("abort", release, { once: true });
    try {
      if (input.signal?.aborted) throw new Error("the session was hung up");
      await input.write(`${claim.share}\n`);
      const code = confirmationCode(claim.share);
      await input.notify?.(
        `share ${claim.index} of set ${set.record.setId} stays on this host until you confirm that you stored it: ${confirmCommand(caller.name, input.sshConnection, code)}\n`,
      );
    } catch (error) {
      input.signal?.removeEventListener("abort", release);
      await claim.release();
      throw new SignstarError(`the share could not be sent (${error instanceof Error ? error.message : String(error)}); it stays staged`, ExitCode.Remote);
    }
    input.signal?.removeEventListener("abort", release);
    audit.set({ set: set.record.setId, index: claim.index, confirmation: "awaiting" });
  });
}

/** `confirm <code>`: the holder has its share; it is wiped from the host and marked fetched. */
export async function confirmSecretShare(input: ShareToolInput & { readonly code: string }): Promise<string> {
  const { caller, log } = input;
  const events = { log, success: { event: "secret share confirmed", severity: "notice" as const }, refusal: "secret share confirmation refused", fields: { user: caller.name } };
  return withAudit(events, async (audit) => {
    await requireShareholder(input);
    const set = await readPublicShareSet(input.root);
    const index = await confirmDownload(input.root, caller, set, input.code, input.now());
    audit.set({ set: set.record.setId, index });
    return `share ${index} of set ${set.record.setId} confirmed: it was removed from this host; keep your copy offline\n`;
  });
}

/** What the executable gives the share tool (lib/cli/shell.ts provides it). */
export interface SecretShareCommandInput {
  /** SSH_ORIGINAL_COMMAND. */
  readonly original: string | undefined;
  /** SSH_CONNECTION (where the holder connected to: the confirm hint names it). */
  readonly sshConnection?: string | undefined;
  readonly tool: { readonly caller: Caller; readonly config: ConfigLocation };
  /** The audit log by tag. */
  readonly audit: (tag?: string) => LogSink;
  /** Report errors under another executable's name. */
  readonly reportAs: (name: string) => void;
  readonly root: string;
  readonly now: () => Date;
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Aborted on SIGHUP/SIGTERM: a fresh claim is put back. */
  readonly signal: AbortSignal;
}

const UPLOAD_TOOL = "signstar-upload-secret-share";

/**
 * signstar-download-secret-share's whole run: the mode the client asked for, then download, confirm or upload
 * (the upload speaks and logs as signstar-upload-secret-share, which is what the shareholder asked for).
 */
export async function secretShareCommand(input: SecretShareCommandInput): Promise<string | void> {
  const mode = shareCommandOf(input.original);
  const common = { ...input.tool, root: input.root, now: input.now };
  if (mode === "upload") {
    input.reportAs(UPLOAD_TOOL);
    const { uploadSecretShare } = await import("./upload-secret-share.js");
    return uploadSecretShare({ ...common, log: input.audit(UPLOAD_TOOL), stdin: input.stdin });
  }
  if (mode === "confirm") return confirmSecretShare({ ...common, log: input.audit(), code: confirmCodeOf(input.original) });
  const write = (text: string): Promise<void> =>
    new Promise<void>((resolve, reject) => input.stdout.write(text, (e) => (e ? reject(e) : resolve())));
  await downloadSecretShare({
    ...common,
    log: input.audit(),
    write,
    notify: (text) => new Promise<void>((resolve) => input.stderr.write(text, () => resolve())),
    signal: input.signal,
    sshConnection: input.sshConnection,
  });
}
