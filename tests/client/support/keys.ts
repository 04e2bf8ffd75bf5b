import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface TestKey {
  /** Private key file (OpenSSH format, mode 0600). */
  readonly path: string;
  readonly privateKey: string;
  /** `ssh-ed25519 AAAA…` (no comment). */
  readonly publicLine: string;
  readonly blobB64: string;
}

/** A fresh key made by ssh-keygen in `dir` (optionally passphrase-protected). */
export function makeKey(dir: string, name: string, type: "ed25519" | "ecdsa" | "rsa" = "ed25519", passphrase = ""): TestKey {
  const path = join(dir, name);
  const extra = type === "rsa" ? ["-b", "2048"] : [];
  execFileSync("ssh-keygen", ["-q", "-t", type, ...extra, "-N", passphrase, "-C", "", "-f", path]);
  const [keyType, blobB64] = readFileSync(`${path}.pub`, "utf8").trim().split(/\s+/) as [string, string];
  return { path, privateKey: readFileSync(path, "utf8"), publicLine: `${keyType} ${blobB64}`, blobB64 };
}
