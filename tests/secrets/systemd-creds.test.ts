// systemd-creds on this host. Debian 12 ships systemd 252: no `systemd-creds --user`, and the host key is
// root-only, so per-user credentials cannot work there; the code must say so instead of pretending.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNonAdminSecret, readNonAdminSecret } from "../../lib/secrets/non-admin.js";
import {
  USER_CREDENTIALS_MIN_SYSTEMD,
  credentialName,
  decryptHostCredential,
  encryptHostCredential,
  systemdCredsVersion,
} from "../../lib/secrets/systemd-creds.js";
import { ExitCode } from "../../lib/errors.js";
import { run, type RunResult } from "../support/run.js";
import { TestUsers, type TestUser } from "../support/users.js";

const users = new TestUsers();
let dir: string;
let carol: TestUser;
/** A throw-away host key, so the machine's /var/lib/systemd/credential.secret is never created or used. */
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-creds-"));
  await chmod(dir, 0o755);
  env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", SYSTEMD_CREDENTIAL_SECRET: join(dir, "host.secret") };
  carol = await users.add("carol");
});
afterAll(async () => {
  await users.removeAll();
  await rm(dir, { recursive: true, force: true });
});

function runAs(user: TestUser | undefined, argv: string[], input: Buffer | string): Promise<RunResult> {
  const [file, ...args] = argv;
  return run(file ?? "false", args, { env, ...(user ? { uid: user.uid, gid: user.gid } : {}), input });
}

describe("systemd-creds", () => {
  it("host-key credentials: root round trip, bound to their name, ciphertext without the plaintext", async () => {
    const name = credentialName("signer1", "ns1~operator1");
    expect(name).toBe("signstar.signer1.ns1~operator1");
    const plaintext = "Passphrase-of-30-characters-xy";
    const ciphertext = await encryptHostCredential(name, plaintext, "test.creds", { env });
    expect(ciphertext.toString("latin1")).not.toContain(plaintext);
    expect((await decryptHostCredential(name, ciphertext, "test.creds", { env })).toString()).toBe(plaintext);
    await expect(decryptHostCredential(credentialName("signer2", "ns1~operator1"), ciphertext, "test.creds", { env })).rejects.toThrow(
      /systemd-creds decryption of test\.creds failed \(status 1\): Embedded credential name 'signstar.signer1.ns1~operator1' does not match/,
    );
  });

  it("a non-root user cannot decrypt a host-key credential (the fact that rules out systemd 252)", async () => {
    const ciphertext = await encryptHostCredential("c", "secret", "c.creds", { env });
    const asUser = await runAs(carol, ["systemd-creds", "decrypt", "--name=c", "-", "-"], ciphertext);
    expect(asUser.code).not.toBe(0);
    expect(asUser.stderr).toMatch(/Failed to determine local credential key: Permission denied/);
    expect(asUser.stdout).toBe("");
    const asRoot = await runAs(undefined, ["systemd-creds", "decrypt", "--name=c", "-", "-"], ciphertext);
    expect(asRoot.stdout).toBe("secret");
  });

  it("non_admin_secret_handling = systemd-creds: works with systemd >= 256, fails clearly below", async () => {
    const version = await systemdCredsVersion({ env });
    const loc = { root: dir, systemUser: carol.name, backendUser: "ns1~operator1", handling: "systemd-creds" as const, env };
    if (version < USER_CREDENTIALS_MIN_SYSTEMD) {
      const message = new RegExp(
        `ns1~operator1\\.creds: systemd-creds secrets need systemd >= 256 \\(systemd-creds --user\\); this host has systemd ${version}, ` +
          `where only root can decrypt host-key credentials.*use non_admin_secret_handling = "plaintext"`,
      );
      await expect(createNonAdminSecret(loc)).rejects.toThrow(message);
      const err = await readNonAdminSecret({ ...loc, uid: carol.uid }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(message);
      expect((err as { exitCode: number }).exitCode).toBe(ExitCode.Secret);
    } else {
      const created = await createNonAdminSecret(loc);
      expect(created.path.endsWith("/ns1~operator1.creds")).toBe(true);
      expect(version).toBeGreaterThanOrEqual(USER_CREDENTIALS_MIN_SYSTEMD);
    }
  });
});
