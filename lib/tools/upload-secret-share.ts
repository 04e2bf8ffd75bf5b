/**
 * signstar-upload-secret-share: a shareholder uploads its share (one line on stdin). The share is verified on
 * arrival against the host's commitments (format, checksum, iteration, set, parameters, commitment, issued to
 * the caller), stored once in the caller's tmpfs upload directory, and the caller is told at once how many
 * shares are present and when they are wiped. Runs as the shareholder (also via
 * `ssh holder@host upload` through signstar-download-secret-share).
 */
import type { Readable } from "node:stream";
import { withAudit } from "../log/audit.js";
import { readPublicShareSet, storeUpload, UPLOAD_TIMEOUT_MS } from "../spool/shares.js";
import { MAX_SHARE_TEXT } from "../secrets/shares/format.js";
import { requireShareholder, type ShareToolInput } from "../caller/role.js";
import { InputError } from "../errors.js";
import { readBounded } from "../os/read-stream.js";

export const SHARE_INPUT_TIMEOUT_MS = 30_000;

export async function uploadSecretShare(
  input: ShareToolInput & { readonly stdin: Readable; readonly timeoutMs?: number; readonly stdinTimeoutMs?: number },
): Promise<string> {
  const { caller, log } = input;
  const timeoutMs = input.timeoutMs ?? UPLOAD_TIMEOUT_MS;
  const events = { log, success: { event: "secret share uploaded", severity: "notice" as const }, refusal: "secret share upload refused", fields: { user: caller.name } };
  return withAudit(events, async (audit) => {
    await requireShareholder(input);
    const raw = await readBounded(input.stdin, "the share", MAX_SHARE_TEXT + 2, input.stdinTimeoutMs ?? SHARE_INPUT_TIMEOUT_MS);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      throw new InputError("the share is not valid UTF-8 text");
    } finally {
      raw.fill(0);
    }
    const set = await readPublicShareSet(input.root);
    const r = await storeUpload(input.root, caller, text, set, input.now().getTime(), timeoutMs);
    const until = r.expiresAt !== undefined ? new Date(r.expiresAt).toISOString() : "-";
    audit.set({ set: r.setId, index: r.index, present: `${r.present}/${r.threshold}` });
    const enough = r.present >= r.threshold ? "; enough shares are present: the operator can run signstar-configure now" : "";
    return `share ${r.index} of set ${r.setId} accepted: ${r.present} of the ${r.threshold} required shares are present; they are wiped at ${until} (${Math.round(timeoutMs / 1000)} s after the first upload)${enough}\n`;
  });
}

