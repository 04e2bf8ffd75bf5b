/**
 * Staged shares are sealed at rest (issue 17.6): a share waiting on the host (the root-only ShareStore's
 * pending/claimed files, a holder's `<set>.share` / `<set>.claimed`) is never written to persistent disk in the
 * clear. It is encrypted with AES-256-GCM under a key that exists only in tmpfs:
 *
 *   /run/signstar/share-keys/                 root 0755  tmpfs (never on disk; gone after a reboot)
 *     <set-id>/                               root 0755
 *       <user>.key                            root:<the holder's group> 0640   "signstar-share-key-v1 <set> <64 hex>"
 *
 * One key per holder and set: the holder's share tool (running as the holder) can read its own key and no other
 * holder's; root reads all of them. The holder cannot replace its key (root owns it). A disk image or backup of
 * /var/lib/signstar holds only ciphertext, and zero-filling a sealed file after use no longer matters on
 * copy-on-write or journaling file systems: without the key (in RAM only) the bytes are not the share.
 *
 * The price, deliberately: a reboot (or anything that empties /run) before a holder downloaded its share loses
 * that share. docs/shares.md says what then happens (the previous share set stays usable until the new one is
 * confirmed, lib/secrets/share-store.ts).
 *
 * Sealed line: `signstar-sealed-share-v1:<set-id>:<user>:<nonce, 24 hex>:<ciphertext and tag, hex>`; the AAD is
 * everything before the nonce, so a sealed share moved to another holder or set fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readdir, statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { ExitCode } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { errnoCode } from "../os/errno.js";
import { ensureDir, pathExists } from "../os/fs.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { wipeTree } from "../os/wipe.js";
import { ShareError } from "./shares/errors.js";

const KEY_FORMAT = "signstar-share-key-v1";
export const SEALED_FORMAT = "signstar-sealed-share-v1";
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const TMPFS_MAGIC = 0x01021994;

/** Whose share, of which set: the AAD and the key's name. */
export interface SealFor {
  readonly setId: string;
  readonly user: string;
}

/** True when `root` is the live system (then the key directory must be tmpfs). */
const live = (root: string): boolean => root === "/" || root === "";

async function requireTmpfs(root: string, dir: string): Promise<void> {
  if (!live(root)) return;
  const fs = await statfs(dir);
  if (fs.type !== TMPFS_MAGIC) {
    throw new ShareError("storage", `${dir} is not on tmpfs; the keys of staged shares must never reach a disk: mount a tmpfs on /run (systemd does at boot)`, ExitCode.Secret);
  }
}

/** Root: makes the key of `user`'s share of `setId` (readable by the holder's group `gid`), replacing any. */
export async function createShareKey(root: string, s: SealFor, gid: number): Promise<void> {
  const layout = hostLayout(root);
  const path = layout.shareKey(s.setId, s.user);
  await ensureDir(layout.shareKeysDir, 0o755);
  await requireTmpfs(root, layout.shareKeysDir);
  await ensureDir(dirname(path), 0o755);
  const key = randomBytes(KEY_BYTES);
  try {
    await writeFileAtomic(path, `${KEY_FORMAT} ${s.setId} ${key.toString("hex")}\n`, { mode: 0o640, uid: 0, gid });
  } finally {
    key.fill(0);
  }
}

/** Whether the key of `user`'s share of `setId` is still there (it is not after a reboot). */
export function shareKeyExists(root: string, s: SealFor): Promise<boolean> {
  return pathExists(hostLayout(root).shareKey(s.setId, s.user));
}

/** Root: removes the keys of every set but `keep` (their shares were confirmed, replaced or retired). */
export async function removeShareKeys(root: string, keep: readonly string[] = []): Promise<void> {
  const dir = hostLayout(root).shareKeysDir;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return;
    throw error;
  }
  for (const name of names) if (!keep.includes(name)) await wipeTree(`${dir}/${name}`);
}

/** The share's key was lost with /run: the sealed share on disk can never be opened again. */
export function lostShareError(s: SealFor, root: string): ShareError {
  return new ShareError(
    "lost",
    `share of user ${s.user} in set ${s.setId} was sealed under a key kept only in ${hostLayout(root).shareKeysDir}, which is gone (the host restarted after it was staged): it cannot be recovered; the operator recovers with the previous share set or a new split (docs/shares.md)`,
    ExitCode.Secret,
  );
}

async function readKey(root: string, s: SealFor): Promise<Buffer> {
  const path = hostLayout(root).shareKey(s.setId, s.user);
  let data: Buffer;
  try {
    // Root-owned, nothing for others, no group write: only root can have written it.
    data = (await readCheckedFile(path, { what: "share key", maxBytes: 256, owner: 0, clearBits: 0o027, exitCode: ExitCode.Secret })).data;
  } catch (error) {
    if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") throw lostShareError(s, root);
    throw error;
  }
  const m = /^signstar-share-key-v1 ([0-9a-f]{16}) ([0-9a-f]{64})\n?$/.exec(data.toString("utf8"));
  data.fill(0);
  if (m === null || m[1] !== s.setId) throw new ShareError("storage", `${path}: not the share key of set ${s.setId}`, ExitCode.Secret);
  return Buffer.from(m[2]!, "hex");
}

const aad = (s: SealFor): string => `${SEALED_FORMAT}:${s.setId}:${s.user}:`;

/** Root: the sealed form of a share line (for a file on persistent disk). */
export async function sealShare(root: string, s: SealFor, line: string): Promise<string> {
  const key = await readKey(root, s);
  try {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(Buffer.from(aad(s), "utf8"));
    const plain = Buffer.from(line.trim(), "utf8");
    const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    plain.fill(0);
    return `${aad(s)}${nonce.toString("hex")}:${body.toString("hex")}`;
  } finally {
    key.fill(0);
  }
}

/**
 * The share line of a sealed file's text (root, or the holder itself: it can read its own key). A text that is
 * not sealed for `s`, or fails its tag, is refused; a missing key is `lostShareError`.
 */
export async function unsealShare(root: string, s: SealFor, text: string): Promise<string> {
  const prefix = aad(s);
  const t = text.trim();
  const m = /^([0-9a-f]{24}):([0-9a-f]+)$/.exec(t.startsWith(prefix) ? t.slice(prefix.length) : "");
  if (m === null || m[2]!.length < 2 * TAG_BYTES + 2) {
    throw new ShareError("storage", `the staged share of user ${s.user} in set ${s.setId} is not a sealed share of theirs`, ExitCode.Secret);
  }
  const key = await readKey(root, s);
  try {
    const body = Buffer.from(m[2]!, "hex");
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(m[1]!, "hex"));
    decipher.setAAD(Buffer.from(prefix, "utf8"));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new ShareError("storage", `the staged share of user ${s.user} in set ${s.setId} does not open with its key (damaged, or sealed under a key that is gone)`, ExitCode.Secret);
    }
    const line = plain.toString("utf8");
    plain.fill(0);
    return line;
  } finally {
    key.fill(0);
  }
}
