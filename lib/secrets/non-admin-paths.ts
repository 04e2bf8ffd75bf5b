/** Where a Unix user's backend secrets live (reference §4.2), below an optional root prefix. */
import { join } from "node:path";
import type { SecretHandling } from "../config/model.js";
import { SecretFileError } from "./errors.js";

export const HOME_BASE = "/var/lib/signstar/home";
/** Below the user's home. */
export const SECRETS_SUBDIR = [".local", "state", "signstar", "secrets"] as const;

export interface SecretLocation {
  /** Root prefix ("" or "/" for the live system; a directory for tests and image builds). */
  readonly root?: string;
  readonly systemUser: string;
  readonly backendUser: string;
  readonly handling: SecretHandling;
}

export function homeOf(root: string | undefined, systemUser: string): string {
  return join(root || "/", HOME_BASE, systemUser);
}

export function secretsDirOf(root: string | undefined, systemUser: string): string {
  return join(homeOf(root, systemUser), ...SECRETS_SUBDIR);
}

/** File name component checks: a backend user (e.g. a PKCS#11 token label) must not escape the directory. */
function checkComponent(value: string, what: string): void {
  if (value === "" || value === "." || value === ".." || /[/\0]/.test(value) || value.startsWith(".") || value.length > 200) {
    throw new SecretFileError(`${what} "${value.slice(0, 200)}" cannot be used as a file name`, value);
  }
}

/** `<root>/var/lib/signstar/home/<user>/.local/state/signstar/secrets/<backend-user>.{txt,creds}` */
export function secretFilePath(loc: SecretLocation): string {
  checkComponent(loc.systemUser, "system user");
  checkComponent(loc.backendUser, "backend user");
  const ext = loc.handling === "plaintext" ? "txt" : "creds";
  return join(secretsDirOf(loc.root, loc.systemUser), `${loc.backendUser}.${ext}`);
}
