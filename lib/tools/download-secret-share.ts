/**
 * signstar-download-secret-share: the ForceCommand of shareholders (role share_holder).
 *
 * One executable serves both directions, chosen by the command the client asks for (SSH_ORIGINAL_COMMAND,
 * whitelisted): empty or `download` prints the caller's own share once; `upload` reads a share on stdin
 * (signstar-upload-secret-share's logic). Anything else is refused. It runs as the shareholder, never as root:
 * it reads and writes only the caller's own spool files (see lib/configure/share-spool.ts).
 */
import { loadConfig, type ConfigLocation } from "../config/load.js";
import { findUserMapping } from "../config/mappings.js";
import { ExitCode, SignstarError } from "../errors.js";
import type { LogSink } from "../log/syslog.js";
import { claimDownload, readPublicShareSet } from "../configure/share-spool.js";
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
export type ShareCommand = "download" | "upload";

/** Maps SSH_ORIGINAL_COMMAND to a subcommand (undefined/empty → download); anything else is a usage error. */
export function shareCommandOf(original: string | undefined): ShareCommand {
  const c = (original ?? "").trim();
  if (c === "" || c === "download") return "download";
  if (c === "upload") return "upload";
  throw new SignstarError(`unknown command "${c.slice(0, 40)}": a shareholder may run "download" (the default) or "upload"`, ExitCode.Usage);
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

/**
 * Writes the caller's share (one line) through `write`, once: the share is claimed before it is written,
 * marked as downloaded and wiped after `write` resolved, and put back when writing failed.
 */
export async function downloadSecretShare(input: ShareToolInput & { readonly write: (text: string) => Promise<void> }): Promise<void> {
  const { caller, log } = input;
  try {
    await requireShareholder(input);
    const set = await readPublicShareSet(input.root);
    const claim = await claimDownload(input.root, caller, set);
    try {
      await input.write(`${claim.share}\n`);
    } catch (error) {
      await claim.release();
      throw new SignstarError(`the share could not be sent (${error instanceof Error ? error.message : String(error)}); it stays staged`, ExitCode.Remote);
    }
    await claim.commit(input.now());
    await log.write("notice", `secret share downloaded: user=${caller.name} set=${set.record.setId} index=${claim.index} outcome=ok`);
  } catch (error) {
    const reason = error instanceof SignstarError ? error.message : "internal error";
    await log.write("warning", `secret share download refused: user=${caller.name} outcome=error reason=${reason}`);
    throw error;
  }
}
