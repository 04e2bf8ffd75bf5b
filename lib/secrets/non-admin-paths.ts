/**
 * The one owner of the names of a Unix user's backend secret files, below an optional root prefix: one file per
 * backend user in the user's `secrets/` directory (lib/layout/host-layout.ts), `<backend-user>.txt` (plaintext)
 * or `.creds` (systemd-creds), as Signstar's `signstar-config/src/non_admin_credentials.rs` (archlinux/signstar
 * d6ad4e9) names them; and `<file>.next`, the secret a rotation moves to. signstar-configure writes both
 * (lib/configure/secret-rotation.ts), the tools read both (lib/secrets/non-admin.ts, lib/backends/login.ts).
 */
import { join } from "node:path";
import type { SecretHandling } from "../config/model.js";
import { hostLayout } from "../layout/host-layout.js";
import { SecretFileError } from "./errors.js";

export interface SecretLocation {
  /** Root prefix ("" or "/" for the live system; a directory for tests and image builds). */
  readonly root?: string;
  readonly systemUser: string;
  readonly backendUser: string;
  readonly handling: SecretHandling;
}

/** File name component checks: a backend user (e.g. a PKCS#11 token label) must not escape the directory. */
function checkComponent(value: string, what: string): void {
  if (value === "" || value === "." || value === ".." || /[/\0]/.test(value) || value.startsWith(".") || value.length > 200) {
    throw new SecretFileError(`${what} "${value.slice(0, 200)}" cannot be used as a file name`, value);
  }
}

/**
 * Which copy of a secret: the one in force (`<file>`), or the one a rotation is moving to (`<file>.next`,
 * written before the backend learns it and renamed over `<file>` after).
 */
export type SecretVersion = "current" | "next";

/** `<root>/var/lib/signstar/home/<user>/.local/state/signstar/secrets/<backend-user>.{txt,creds}[.next]` */
export function secretFilePath(loc: SecretLocation, version: SecretVersion = "current"): string {
  checkComponent(loc.systemUser, "system user");
  checkComponent(loc.backendUser, "backend user");
  const ext = loc.handling === "plaintext" ? "txt" : "creds";
  const file = join(hostLayout(loc.root).userState(loc.systemUser, "secrets"), `${loc.backendUser}.${ext}`);
  return version === "next" ? `${file}.next` : file;
}
