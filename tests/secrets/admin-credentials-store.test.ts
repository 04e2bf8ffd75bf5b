import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode } from "../../lib/errors.js";
import { DEFAULT_ENV } from "../../lib/os/run.js";
import { generateAdminCredentials, serializeAdminCredentials } from "../../lib/secrets/admin-credentials.js";
import {
  adminCredentialsDir,
  adminCredentialsPath,
  readAdminCredentials,
  removeAdminCredentials,
  writeAdminCredentials,
} from "../../lib/secrets/admin-credentials-store.js";
import { SecretFileError } from "../../lib/secrets/errors.js";
import { netHsmUserId } from "../../lib/config/primitives.js";

let root: string;
let credsEnv: NodeJS.ProcessEnv;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-admin-creds-"));
  // A throw-away systemd-creds host key, so the machine's /var/lib/systemd/credential.secret is never touched.
  credsEnv = { ...DEFAULT_ENV, SYSTEMD_CREDENTIAL_SECRET: join(root, "credential.secret") };
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const creds = () =>
  generateAdminCredentials({ iteration: 2, nethsm: { administrators: [netHsmUserId("admin"), netHsmUserId("ns1~admin")] }, pkcs11Tokens: [{ label: "tok" }] });

async function modeOf(path: string): Promise<number> {
  return (await lstat(path)).mode & 0o7777;
}

async function readError(handling: "plaintext" | "systemd-creds" = "plaintext"): Promise<SecretFileError> {
  try {
    await readAdminCredentials(handling, { root, env: credsEnv });
  } catch (error) {
    if (error instanceof SecretFileError) return error;
    throw error;
  }
  throw new Error("expected readAdminCredentials to fail");
}

describe("plaintext admin credentials", () => {
  it("are written root 0600 into a root 0700 directory and read back", async () => {
    const c = creds();
    const path = await writeAdminCredentials(c, "plaintext", { root });
    expect(path).toBe(join(root, "var/lib/signstar/creds/admin-credentials.toml"));
    expect(await modeOf(adminCredentialsDir(root))).toBe(0o700);
    expect(await modeOf(path)).toBe(0o600);
    expect((await lstat(path)).uid).toBe(0);
    expect(await readFile(path, "utf8")).toBe(serializeAdminCredentials(c));
    expect(await readAdminCredentials("plaintext", { root })).toEqual(c);
    // atomic replacement leaves no temporary files
    expect(await readdir(adminCredentialsDir(root))).toEqual(["admin-credentials.toml"]);
  });

  it("corrects the directory mode when it already exists with a wider one", async () => {
    await mkdir(adminCredentialsDir(root), { recursive: true, mode: 0o755 });
    await chmod(adminCredentialsDir(root), 0o755);
    await writeAdminCredentials(creds(), "plaintext", { root });
    expect(await modeOf(adminCredentialsDir(root))).toBe(0o700);
  });

  it("reports a missing file", async () => {
    const e = await readError();
    expect(e.message).toBe(`The credentials file ${adminCredentialsPath("plaintext", root)} does not exist`);
    expect(e.exitCode).toBe(ExitCode.Secret);
    await mkdir(adminCredentialsDir(root), { recursive: true, mode: 0o700 });
    expect((await readError()).message).toBe(`secret file not found: ${adminCredentialsPath("plaintext", root)}`);
  });

  it("reports which check failed: mode, owner, type, symbolic link, directory", async () => {
    const path = await writeAdminCredentials(creds(), "plaintext", { root });
    await chmod(path, 0o640);
    expect((await readError()).message).toBe(`secret file ${path} has mode 0640, but 0600 is required`);
    await chmod(path, 0o600);
    await chown(path, 1000, 1000);
    expect((await readError()).message).toBe(`secret file ${path} is owned by uid 1000, but must be owned by uid 0`);
    await rm(path);
    await mkdir(path);
    expect((await readError()).message).toBe(`secret file ${path} is not a regular file (a directory)`);
    await rm(path, { recursive: true });
    await writeFile(join(root, "elsewhere"), "x", { mode: 0o600 });
    await symlink(join(root, "elsewhere"), path);
    expect((await readError()).message).toBe(`secret file ${path} is a symbolic link, which is refused`);
    await rm(path);
    await writeAdminCredentials(creds(), "plaintext", { root });
    await chmod(adminCredentialsDir(root), 0o755);
    expect((await readError()).message).toBe(
      `directory ${adminCredentialsDir(root)} has mode 0755, but group and others must have no access (0700)`,
    );
  });

  it("reports invalid content with exit code Config and without the secret", async () => {
    const path = await writeAdminCredentials(creds(), "plaintext", { root });
    await writeFile(path, 'iteration = 1\nbackup_passphrase = "leaky-secret"\n');
    try {
      await readAdminCredentials("plaintext", { root });
      expect.unreachable();
    } catch (error) {
      expect((error as { exitCode: number }).exitCode).toBe(ExitCode.Config);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).not.toContain("leaky-secret");
    }
  });

  it("removeAdminCredentials wipes the file", async () => {
    const path = await writeAdminCredentials(creds(), "plaintext", { root });
    await removeAdminCredentials({ root });
    await expect(lstat(path)).rejects.toThrow(/ENOENT/);
  });
});

describe("systemd-creds admin credentials (systemd-creds encrypt --with-key=host, as root)", () => {
  it("are encrypted at rest, root 0600, and decrypt to the same credentials", async () => {
    const c = creds();
    const path = await writeAdminCredentials(c, "systemd-creds", { root, env: credsEnv });
    expect(path).toBe(join(root, "var/lib/signstar/creds/admin-credentials.creds"));
    expect(await modeOf(path)).toBe(0o600);
    const stored = await readFile(path, "utf8");
    expect(stored).not.toContain(c.nethsm!.unlockPassphrase);
    expect(stored).not.toContain("iteration");
    expect(await readAdminCredentials("systemd-creds", { root, env: credsEnv })).toEqual(c);
  });

  it("fails with a clear error when the ciphertext was altered or the host key differs", async () => {
    const path = await writeAdminCredentials(creds(), "systemd-creds", { root, env: credsEnv });
    const other = { ...DEFAULT_ENV, SYSTEMD_CREDENTIAL_SECRET: join(root, "other.secret") };
    // a different host key cannot decrypt it
    await writeAdminCredentials(creds(), "plaintext", { root }); // unrelated file, keeps dir
    await expect(readAdminCredentials("systemd-creds", { root, env: other })).rejects.toThrow(
      new RegExp(`^systemd-creds decryption of ${path} failed`),
    );
    const text = await readFile(path, "utf8");
    const flipped = text.slice(0, 60) + (text[60] === "A" ? "B" : "A") + text.slice(61);
    await writeFile(path, flipped, { mode: 0o600 });
    const e = await readError("systemd-creds");
    expect(e.message).toMatch(new RegExp(`^systemd-creds decryption of ${path} failed`));
  });
});
