/**
 * Crash-safe rotation of non-admin secrets (operator/backup/metrics passphrases, token user PINs).
 *
 * Protocol, for one backend credential shared by one or more Unix users (a PKCS#11 token's user PIN is
 * shared by every signing user of the token; a NetHSM user has one Unix user):
 *   1. generate the new secret S'; write it to `<file>.next` of every user (atomic, 0600, owner the user);
 *   2. set S' on the backend (one call);
 *   3. rename every `<file>.next` over `<file>`.
 * A crash before 2 leaves `.next` files the backend does not accept yet; a crash after 2 leaves users whose
 * `<file>` still holds the old secret. Either way the next run starts by finding the secret the backend
 * accepts: it tries every `.next` first, then every `<file>` ("maybe applied": try it, fall back to the old
 * one), and rotates from there (or resets with admin credentials when none works). So every run converges,
 * and after a completed run every user's `<file>` holds exactly what the backend accepts. Leftover `.next`
 * files are overwritten by the next rotation. The tools read `.next` too: every tool that logs in opens its
 * backend through openWithUserSecret (lib/backends/login.ts), which tries `.next` once when the backend refuses
 * `<file>`, so a run between steps 2 and 3 (or killed there) locks nobody out. The file names are
 * lib/secrets/non-admin-paths.ts's (secretFilePath), for this writer and for those readers.
 */
import { rename } from "node:fs/promises";
import { dirname } from "node:path";
import type { SecretHandling } from "../config/model.js";
import type { PasswdEntry } from "../os/accounts.js";
import { syncDirectory, writeFileAtomic } from "../os/atomic-file.js";
import { secretFilePath, type SecretVersion } from "../secrets/non-admin-paths.js";
import { MAX_PLAINTEXT_SECRET_SIZE, readCheckedSecretFile } from "../secrets/non-admin.js";
import { ensureStateDirs } from "../secrets/state-dirs.js";
import { credentialName, encryptUserCredential, type CredsOptions } from "../secrets/systemd-creds.js";

/** One Unix user's copy of one backend credential. */
export interface SecretCopy {
  readonly owner: PasswdEntry;
  readonly backendUser: string;
}

export interface RotationTarget {
  readonly root: string;
  readonly handling: SecretHandling;
  readonly credsOptions: CredsOptions;
}

function pathOf(t: RotationTarget, c: SecretCopy, version: SecretVersion = "current"): string {
  return secretFilePath({ root: t.root, systemUser: c.owner.name, backendUser: c.backendUser, handling: t.handling }, version);
}

/** Step 1 for one copy: `<file>.next` holds `secret` (owner the user, 0600, in the root-owned secrets/ 0711). */
export async function writeNextSecret(t: RotationTarget, c: SecretCopy, secret: string): Promise<void> {
  await ensureStateDirs(t.root, c.owner.name, "secrets", c.owner);
  const path = pathOf(t, c);
  const content =
    t.handling === "plaintext"
      ? secret
      : await encryptUserCredential(c.owner.name, credentialName(c.owner.name, c.backendUser), secret, path, t.credsOptions);
  await writeFileAtomic(pathOf(t, c, "next"), content, { mode: 0o600, uid: c.owner.uid, gid: c.owner.gid });
}

/** Step 3 for one copy: `<file>.next` replaces `<file>` (rename is atomic; the directory is fsync'ed). */
export async function commitNextSecret(t: RotationTarget, c: SecretCopy): Promise<void> {
  const path = pathOf(t, c);
  await rename(pathOf(t, c, "next"), path);
  await syncDirectory(dirname(path));
}

async function readPlain(path: string, uid: number): Promise<string | undefined> {
  try {
    const bytes = await readCheckedSecretFile(path, uid, MAX_PLAINTEXT_SECRET_SIZE);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    bytes.fill(0);
    return text.length > 0 ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The secrets the backend may accept, most recent first: every readable `.next`, then every `<file>`
 * (distinct values). With systemd-creds handling root cannot decrypt a user's credential on systemd < 256,
 * so the list is empty there and the caller resets with admin credentials.
 */
export async function candidateSecrets(t: RotationTarget, copies: readonly SecretCopy[]): Promise<string[]> {
  if (t.handling !== "plaintext") return [];
  const out: string[] = [];
  for (const version of ["next", "current"] as const) {
    for (const c of copies) {
      const s = await readPlain(pathOf(t, c, version), c.owner.uid);
      if (s !== undefined && !out.includes(s)) out.push(s);
    }
  }
  return out;
}
