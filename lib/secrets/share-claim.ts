/**
 * Claiming one staged share file, the same protocol in the root-only ShareStore (./share-store.ts) and in a
 * holder's download spool (lib/spool/shares.ts): rename `pending` to `claimed` (exactly one
 * concurrent caller wins), read and verify it (a failure puts it back); commit() writes the `fetched` marker
 * and wipes the share, release() puts it back.
 *
 * The holder's download does not commit: the share stays `claimed` (and can be downloaded again by the same
 * holder, `reclaim`) until the holder proves it has it with confirmClaimedShare (the first 8 hex digits of the
 * SHA-256 of the share line). Only then is it wiped and marked fetched.
 */
import { createHash } from "node:crypto";
import { rename } from "node:fs/promises";
import { dirname } from "node:path";
import { ExitCode } from "../errors.js";
import { syncDirectory, writeFileAtomic } from "../os/atomic-file.js";
import { readCheckedSecretFile } from "./non-admin.js";
import { ShareError } from "./shares/errors.js";
import { isMissing } from "../os/errno.js";
import { pathExists } from "../os/fs.js";
import { wipeFile } from "../os/wipe.js";
import { MAX_SHARE_TEXT } from "./shares/format.js";

/** A sealed share file: prefix, set id, user, nonce and the hex of the share line and tag (./share-seal.ts). */
export const MAX_SEALED_TEXT = 2 * (MAX_SHARE_TEXT + 2) + 256;

export interface ClaimedShareFile {
  /** The share line (secret). */
  readonly share: string;
  readonly index: number;
  /** The share was delivered: write the fetched marker, wipe the share. */
  commit(fetchedAt: Date): Promise<void>;
  /** Delivery failed: put the share back. */
  release(): Promise<void>;
}

export interface ShareFiles {
  readonly pending: string;
  readonly claimed: string;
  /** The marker that the holder has its share (a JSON line with index and time). */
  readonly fetched: string;
}

export interface ShareClaimant {
  readonly user: string;
  readonly index: number;
  readonly setId: string;
  /** Owner the claimed file must have. */
  readonly fileUid: number;
  /** Owner of the fetched marker (leave out to keep this process's). */
  readonly markerOwner?: { readonly uid: number; readonly gid: number };
  /** Throws when the share text is not this holder's share of the set. */
  verify(text: string): void;
  /** The share line of the file's text: staged files are sealed at rest (./share-seal.ts). */
  unseal(text: string): Promise<string>;
}

/** The confirmation code of a share line: the first 8 hex digits of its SHA-256. */
export function confirmationCode(shareLine: string): string {
  return createHash("sha256").update(shareLine.trim(), "utf8").digest("hex").slice(0, 8);
}

async function readClaimed(claimed: string, who: ShareClaimant): Promise<string> {
  const raw = await readCheckedSecretFile(claimed, who.fileUid, MAX_SEALED_TEXT, { singleLink: true });
  const text = (await who.unseal(raw.toString("utf8"))).trim();
  raw.fill(0);
  who.verify(text);
  return text;
}

export async function claimShareFile(files: ShareFiles, who: ShareClaimant, opts: { readonly reclaim?: boolean } = {}): Promise<ClaimedShareFile> {
  const { pending, claimed, fetched } = files;
  try {
    await rename(pending, claimed);
  } catch (error) {
    if (!isMissing(error)) throw error;
    if (opts.reclaim && !(await pathExists(fetched)) && (await pathExists(claimed))) {
      // Downloaded before but not confirmed: the same holder gets it again (nothing is lost or stranded).
      const text = await readClaimed(claimed, who);
      return {
        share: text,
        index: who.index,
        commit: async () => undefined,
        release: async () => undefined,
      };
    }
    if ((await pathExists(fetched)) || (await pathExists(claimed))) {
      throw new ShareError(
        "already-downloaded",
        `user ${who.user} already downloaded share ${who.index} of set ${who.setId}; it is no longer on this host`,
        ExitCode.Denied,
      );
    }
    throw new ShareError("not-staged", `no share is staged for user ${who.user} in share set ${who.setId}`, ExitCode.Config);
  }
  let text: string;
  try {
    text = await readClaimed(claimed, who);
  } catch (error) {
    await rename(claimed, pending).catch(() => undefined);
    throw error;
  }
  let done = false;
  return {
    share: text,
    index: who.index,
    commit: async (fetchedAt: Date) => {
      if (done) return;
      done = true;
      const marker = JSON.stringify({ index: who.index, fetchedAt: fetchedAt.toISOString() });
      await writeFileAtomic(fetched, `${marker}\n`, { mode: 0o600, ...(who.markerOwner ?? {}) });
      await wipeFile(claimed);
      await syncDirectory(dirname(claimed));
    },
    release: async () => {
      if (done) return;
      done = true;
      await rename(claimed, pending);
    },
  };
}

/**
 * The holder confirms it stored its downloaded share: `code` must be confirmationCode of the claimed share. Then
 * the fetched marker is written and the share wiped. A share that was not downloaded yet, or a wrong code, is
 * refused with a one-line message (never any share data).
 */
export async function confirmClaimedShare(files: ShareFiles, who: ShareClaimant, code: string, fetchedAt: Date): Promise<void> {
  const { pending, claimed, fetched } = files;
  if (!(await pathExists(claimed))) {
    if (await pathExists(fetched)) {
      throw new ShareError("already-downloaded", `share ${who.index} of set ${who.setId} was already confirmed; it is no longer on this host`, ExitCode.Denied);
    }
    if (await pathExists(pending)) {
      throw new ShareError("not-downloaded", `share ${who.index} of set ${who.setId} has not been downloaded yet: download it first (ssh without a command)`, ExitCode.Denied);
    }
    throw new ShareError("not-staged", `no share is staged for user ${who.user} in share set ${who.setId}`, ExitCode.Config);
  }
  const text = await readClaimed(claimed, who);
  if (confirmationCode(text) !== code.toLowerCase()) {
    throw new ShareError(
      "confirmation",
      `confirmation code ${code.slice(0, 8)} does not match share ${who.index} of set ${who.setId}; the share stays on this host: download it again and confirm with the code printed then`,
      ExitCode.BadInput,
    );
  }
  const marker = JSON.stringify({ index: who.index, fetchedAt: fetchedAt.toISOString() });
  await writeFileAtomic(fetched, `${marker}\n`, { mode: 0o600, ...(who.markerOwner ?? {}) });
  await wipeFile(claimed, who.fileUid);
  await syncDirectory(dirname(claimed));
}
