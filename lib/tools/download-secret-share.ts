/**
 * signstar-download-secret-share: the ForceCommand of shareholders (role share_holder).
 *
 * One executable serves every direction, chosen by the command the client asks for (SSH_ORIGINAL_COMMAND,
 * whitelisted): empty or `download` prints the caller's own share and the command that confirms it;
 * `confirm <code>` (the first 8 hex digits of the SHA-256 of the share line) wipes it from the host; `upload`
 * reads a share on stdin (signstar-upload-secret-share's logic). Anything else is refused. Until confirmed, the
 * share stays on the host and the holder can download it again (nothing is lost when the client vanished after
 * the bytes left). It runs as the shareholder, never as root: it reads and writes only the caller's own spool
 * files (see lib/configure/share-spool.ts).
 */
import { loadConfig, type ConfigLocation } from "../config/load.js";
import { findUserMapping } from "../config/mappings.js";
import { ExitCode, SignstarError } from "../errors.js";
import type { LogSink } from "../log/syslog.js";
import { hostname } from "node:os";
import { claimDownload, confirmDownload, readPublicShareSet } from "../configure/share-spool.js";
import { confirmationCode } from "../secrets/shares/claim.js";
import { CallerError, refuseRoot, type Caller } from "./caller.js";

export interface ShareToolInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  /** Root prefix of the state paths ("/" on a host). */
  readonly root: string;
  readonly now: () => Date;
  readonly log: LogSink;
}

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
  throw new SignstarError(`unknown command "${c.slice(0, 40)}": ${USAGE}`, ExitCode.Usage);
}

/** The code of `confirm <code>`: exactly 8 hex digits (lower-cased). */
export function confirmCodeOf(original: string | undefined): string {
  const m = /^confirm\s+([0-9A-Fa-f]{8})$/.exec((original ?? "").trim());
  if (!m?.[1]) throw new SignstarError('"confirm" needs the 8 hex digits the download printed, e.g. "confirm 1a2b3c4d"', ExitCode.Usage);
  return m[1].toLowerCase();
}

/** Refuses root and anyone whose mapping is not share_holder. */
export async function requireShareholder(input: ShareToolInput): Promise<void> {
  refuseRoot(input.caller);
  const { config } = await loadConfig(input.config);
  const found = findUserMapping(config, input.caller.name);
  if (found?.mapping.kind !== "share_holder") {
    throw new CallerError(`the user "${input.caller.name}" is not a shareholder in the configuration`);
  }
}

export interface DownloadInput extends ShareToolInput {
  /** Writes the share line (stdout). */
  readonly write: (text: string) => Promise<void>;
  /** Tells the holder how to confirm (stderr, so that `ssh holder@host > share` keeps a clean share file). */
  readonly notify?: (text: string) => Promise<void>;
  /** Aborted on SIGHUP/SIGTERM: a fresh claim is put back. */
  readonly signal?: AbortSignal;
  /** The host name in the confirm hint (default: this host's). */
  readonly host?: string;
}

/**
 * Writes the caller's share (one line) through `write` and the confirm command through `notify`. The share is
 * claimed before it is written and stays claimed (downloadable again by the holder) until `confirm <code>`; it is
 * put back when writing failed or the session was hung up.
 */
export async function downloadSecretShare(input: DownloadInput): Promise<void> {
  const { caller, log } = input;
  try {
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
        `share ${claim.index} of set ${set.record.setId} stays on this host until you confirm that you stored it: ssh ${caller.name}@${input.host ?? hostname()} confirm ${code}\n`,
      );
    } catch (error) {
      input.signal?.removeEventListener("abort", release);
      await claim.release();
      throw new SignstarError(`the share could not be sent (${error instanceof Error ? error.message : String(error)}); it stays staged`, ExitCode.Remote);
    }
    input.signal?.removeEventListener("abort", release);
    await log.write("notice", `secret share downloaded: user=${caller.name} set=${set.record.setId} index=${claim.index} outcome=ok (awaiting confirmation)`);
  } catch (error) {
    const reason = error instanceof SignstarError ? error.message : "internal error";
    await log.write("warning", `secret share download refused: user=${caller.name} outcome=error reason=${reason}`);
    throw error;
  }
}

/** `confirm <code>`: the holder has its share; it is wiped from the host and marked fetched. */
export async function confirmSecretShare(input: ShareToolInput & { readonly code: string }): Promise<string> {
  const { caller, log } = input;
  try {
    await requireShareholder(input);
    const set = await readPublicShareSet(input.root);
    const index = await confirmDownload(input.root, caller, set, input.code, input.now());
    await log.write("notice", `secret share confirmed: user=${caller.name} set=${set.record.setId} index=${index} outcome=ok`);
    return `share ${index} of set ${set.record.setId} confirmed: it was removed from this host; keep your copy offline\n`;
  } catch (error) {
    const reason = error instanceof SignstarError ? error.message : "internal error";
    await log.write("warning", `secret share confirmation refused: user=${caller.name} outcome=error reason=${reason}`);
    throw error;
  }
}
