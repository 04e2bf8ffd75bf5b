/**
 * Claiming one staged share file, the same protocol in the root-only ShareStore (../share-store.ts) and in a
 * holder's download spool (../../configure/share-spool.ts): rename `pending` to `claimed` (exactly one
 * concurrent caller wins), read and verify it (a failure puts it back); commit() writes the `fetched` marker
 * and wipes the share, release() puts it back.
 */
import { rename } from "node:fs/promises";
import { dirname } from "node:path";
import { ExitCode } from "../../errors.js";
import { syncDirectory, writeFileAtomic } from "../atomic-file.js";
import { readCheckedSecretFile } from "../non-admin.js";
import { ShareError } from "./errors.js";
import { isMissing, pathExists, wipeFile } from "./files.js";
import { MAX_SHARE_TEXT } from "./format.js";

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
}

export async function claimShareFile(files: ShareFiles, who: ShareClaimant): Promise<ClaimedShareFile> {
  const { pending, claimed, fetched } = files;
  try {
    await rename(pending, claimed);
  } catch (error) {
    if (!isMissing(error)) throw error;
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
    text = (await readCheckedSecretFile(claimed, who.fileUid, MAX_SHARE_TEXT + 2)).toString("utf8").trim();
    who.verify(text);
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
