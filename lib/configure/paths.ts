/**
 * Where signstar-configure and the share tools keep their state, below a root prefix (`/` on a host, a
 * temporary directory in tests and image builds). See README "signstar-configure" for the whole layout.
 */
import { join } from "node:path";
import { homeOf } from "../secrets/non-admin-paths.js";

/** Root-only state of signstar-configure (last applied iteration, …). */
export const CONFIGURE_STATE_FILE = "/var/lib/signstar/configure/state.json";
/** The non-secret part of the current share set, readable by the share tools (they run as the shareholder). */
export const PUBLIC_SHARE_SET_FILE = "/var/lib/signstar/share-set.json";
/** tmpfs: one directory per shareholder, owned by it, holding its uploaded share. */
export const SHARE_UPLOAD_BASE = "/run/signstar/share-uploads";
/** NetHSM backups taken after a successful run. */
export const BACKUP_DIR = "/var/lib/signstar/backups";

export function under(root: string, path: string): string {
  return root === "" || root === "/" ? path : join(root, path);
}

/** `<home>/.local/state/signstar/shares`: the shareholder's staged share waiting for download (owner the holder, 0700). */
export function downloadSpoolDir(root: string, user: string): string {
  return join(homeOf(root, user), ".local", "state", "signstar", "shares");
}

/** `/run/signstar/share-uploads/<user>` (owner the holder, 0755; the share inside is 0600). */
export function uploadSpoolDir(root: string, user: string): string {
  return join(under(root, SHARE_UPLOAD_BASE), user);
}

export function uploadSpoolFile(root: string, user: string): string {
  return join(uploadSpoolDir(root, user), "share");
}
