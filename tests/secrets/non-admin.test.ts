// Per-user backend secrets with real Unix users: created as root, read back as the user in a separate process.
import { createHash } from "node:crypto";
import { access, chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNonAdminSecret, readNonAdminSecret, secretFilePath } from "../../lib/secrets/non-admin.js";
import { SecretFileError } from "../../lib/secrets/errors.js";
import { generatePassphrase } from "../../lib/secrets/passphrase.js";
import { ExitCode } from "../../lib/errors.js";
import { exitCodeOf, run, type RunResult } from "../support/run.js";
import { TestUsers, type TestUser } from "../support/users.js";

const DIST_MODULE = new URL("../../dist/lib/secrets/non-admin.js", import.meta.url);
const users = new TestUsers();
let root: string;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  await access(DIST_MODULE).catch(() => {
    throw new Error("dist/ is missing: run `npm run build` before these tests (npm test does)");
  });
  root = await mkdtemp(join(tmpdir(), "signstar-secrets-"));
  await chmod(root, 0o755); // the users must be able to walk down to their homes
  alice = await users.add("alice");
  bob = await users.add("bob");
});
afterAll(async () => {
  await users.removeAll();
  await rm(root, { recursive: true, force: true });
});

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

/** Runs readNonAdminSecret from dist/ as `user` (real uid/gid); prints only a hash of the secret. */
function readAs(user: TestUser, backendUser: string, systemUser: string = user.name): Promise<RunResult> {
  const script = `
    const { readNonAdminSecret } = await import(${JSON.stringify(DIST_MODULE.href)});
    const { createHash } = await import("node:crypto");
    try {
      const secret = await readNonAdminSecret(JSON.parse(process.argv[1]));
      process.stdout.write(createHash("sha256").update(secret).digest("hex"));
    } catch (e) {
      process.stderr.write(e.message);
      process.exitCode = e.exitCode ?? 1;
    }`;
  const opts = JSON.stringify({ root, systemUser, backendUser, handling: "plaintext" });
  return run(process.execPath, ["--input-type=module", "-e", script, opts], { uid: user.uid, gid: user.gid });
}

describe("non-admin secrets", () => {
  it("creates the file atomically: owner the user, 0600, in root-owned directories (secrets/ 0711); the user reads it back", async () => {
    const created = await createNonAdminSecret({ root, systemUser: alice.name, backendUser: "ns1~operator1", handling: "plaintext" });
    const home = join(root, "var/lib/signstar/home", alice.name);
    expect(created.path).toBe(join(home, ".local/state/signstar/secrets/ns1~operator1.txt"));
    expect(created.secret).toMatch(/^[A-Za-z0-9]{30}$/);
    const st = await lstat(created.path);
    expect([st.isFile(), st.mode & 0o7777, st.uid, st.gid]).toEqual([true, 0o600, alice.uid, alice.gid]);
    expect(await readFile(created.path, "utf8")).toBe(created.secret); // verbatim, no newline
    for (const dir of ["", ".local", ".local/state", ".local/state/signstar"]) {
      const d = await lstat(join(home, dir));
      expect([dir, d.mode & 0o7777, d.uid, d.gid]).toEqual([dir, 0o755, 0, 0]);
    }
    const secretsDir = await lstat(join(home, ".local/state/signstar/secrets"));
    expect([secretsDir.mode & 0o7777, secretsDir.uid, secretsDir.gid]).toEqual([0o711, 0, 0]);
    expect((await readdir(join(home, ".local/state/signstar/secrets"))).filter((n) => n.endsWith(".tmp"))).toEqual([]);

    const r = await readAs(alice, "ns1~operator1");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(sha256(created.secret));
    expect(r.code).toBe(0);
  });

  it("refuses to overwrite unless asked, and overwrites atomically when asked", async () => {
    await expect(createNonAdminSecret({ root, systemUser: alice.name, backendUser: "ns1~operator1", handling: "plaintext" })).rejects.toThrow(
      /secret file already exists: .*ns1~operator1\.txt$/,
    );
    const again = await createNonAdminSecret({ root, systemUser: alice.name, backendUser: "ns1~operator1", handling: "plaintext", overwrite: true, secret: "1234" });
    expect((await readAs(alice, "ns1~operator1")).stdout).toBe(sha256("1234"));
    expect((await lstat(again.path)).mode & 0o7777).toBe(0o600);
  });

  it("another user cannot read it (the directories are 0700)", async () => {
    const r = await readAs(bob, "ns1~operator1", alice.name);
    expect(r.code).toBe(ExitCode.Secret);
    expect(r.stdout).toBe("");
    const path = secretFilePath({ root, systemUser: alice.name, backendUser: "ns1~operator1", handling: "plaintext" });
    expect(r.stderr).toBe(`secret file ${path} is not readable by uid ${bob.uid} (permission denied)`);
  });

  it("mode 0644: refused, naming the path and the mode", async () => {
    const { path } = await createNonAdminSecret({ root, systemUser: alice.name, backendUser: "mode", handling: "plaintext" });
    await chmod(path, 0o644);
    const r = await readAs(alice, "mode");
    expect(r.stderr).toBe(`secret file ${path} has mode 0644, but 0600 is required`);
    expect(r.code).toBe(ExitCode.Secret);
    expect(r.stdout).toBe("");
  });

  it("wrong owner: refused, naming owner and required owner", async () => {
    const { path } = await createNonAdminSecret({ root, systemUser: alice.name, backendUser: "owner", handling: "plaintext" });
    await chown(path, bob.uid, bob.gid);
    const opts = { root, systemUser: alice.name, backendUser: "owner", handling: "plaintext" as const, uid: alice.uid };
    await expect(readNonAdminSecret(opts)).rejects.toThrow(`secret file ${path} is owned by uid ${bob.uid}, but must be owned by uid ${alice.uid}`);
    const r = await readAs(alice, "owner"); // as alice: the kernel already refuses
    expect(r.code).toBe(ExitCode.Secret);
    expect(r.stderr).toBe(`secret file ${path} is not readable by uid ${alice.uid} (permission denied)`);
  });

  it("symbolic link: refused even when it points to a valid secret file", async () => {
    const { path: target } = await createNonAdminSecret({ root, systemUser: alice.name, backendUser: "real", handling: "plaintext" });
    const link = secretFilePath({ root, systemUser: alice.name, backendUser: "link", handling: "plaintext" });
    await symlink(target, link);
    const r = await readAs(alice, "link");
    expect(r.stderr).toBe(`secret file ${link} is a symbolic link, which is refused`);
    expect(r.code).toBe(ExitCode.Secret);
  });

  it("directory, FIFO, empty, oversized and missing files: each refused with its reason", async () => {
    const path = (b: string): string => secretFilePath({ root, systemUser: alice.name, backendUser: b, handling: "plaintext" });
    const read = (b: string): Promise<string> => readNonAdminSecret({ root, systemUser: alice.name, backendUser: b, handling: "plaintext", uid: alice.uid });
    await mkdir(path("dir"), { mode: 0o600 });
    await chown(path("dir"), alice.uid, alice.gid);
    await expect(read("dir")).rejects.toThrow(`secret file ${path("dir")} is not a regular file (a directory)`);
    await exitCodeOf("mkfifo", ["-m", "600", path("fifo")]);
    await chown(path("fifo"), alice.uid, alice.gid);
    await expect(read("fifo")).rejects.toThrow(`secret file ${path("fifo")} is not a regular file (a FIFO)`);
    await writeFile(path("empty"), "", { mode: 0o600 });
    await chown(path("empty"), alice.uid, alice.gid);
    await expect(read("empty")).rejects.toThrow(`secret file ${path("empty")} is empty`);
    await writeFile(path("big"), "x".repeat(5000), { mode: 0o600 });
    await chown(path("big"), alice.uid, alice.gid);
    await expect(read("big")).rejects.toThrow(`secret file ${path("big")} has 5000 bytes, more than the 4096 allowed`);
    await expect(read("missing")).rejects.toThrow(`secret file not found: ${path("missing")}`);
    const err = await read("missing").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretFileError);
    expect((err as SecretFileError).exitCode).toBe(ExitCode.Secret);
    await unlink(path("empty"));
  });

  it("refuses backend user names that would leave the secrets directory", async () => {
    for (const bad of ["../x", "a/b", ".hidden", ""]) {
      await expect(createNonAdminSecret({ root, systemUser: alice.name, backendUser: bad, handling: "plaintext" })).rejects.toThrow(/cannot be used as a file name/);
    }
  });

  it("refuses a secrets directory that is a symbolic link", async () => {
    const home = join(root, "var/lib/signstar/home", bob.name);
    await mkdir(join(home, ".local/state"), { recursive: true });
    await symlink("/tmp", join(home, ".local/state/signstar"));
    await expect(createNonAdminSecret({ root, systemUser: bob.name, backendUser: "x", handling: "plaintext" })).rejects.toThrow(
      `state directory ${join(home, ".local/state/signstar")} is a symbolic link, which is refused`,
    );
  });

  it("generates 30-character [A-Za-z0-9] passphrases from the whole alphabet", () => {
    const all = Array.from({ length: 200 }, () => generatePassphrase());
    for (const p of all) expect(p).toMatch(/^[A-Za-z0-9]{30}$/);
    expect(new Set(all).size).toBe(200);
    expect(new Set(all.join("")).size).toBe(62);
  });
});
