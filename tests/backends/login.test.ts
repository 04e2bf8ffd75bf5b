// openWithUserSecret: <file> first; on a refusal, the changed <file> or <file>.next once each; both read anew on every call.
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWithUserSecret } from "../../lib/backends/index.js";
import { writeNextSecret } from "../../lib/configure/secret-rotation.js";
import { createNonAdminSecret, readNonAdminSecret, secretFilePath, type ReadSecretOptions } from "../../lib/secrets/non-admin.js";

let root: string;
const owner = { name: "login-test", uid: 0, gid: 0, home: "/", shell: "/bin/sh" };
const location = (): ReadSecretOptions => ({ root, systemUser: owner.name, backendUser: "op1", handling: "plaintext", uid: 0 });
const refused = (): Error & { authenticationFailed: true } => Object.assign(new Error("wrong passphrase"), { authenticationFailed: true as const });

/** A backend that accepts exactly `accepted` and records what it was offered. */
function backend(accepted: string) {
  const offered: string[] = [];
  return {
    offered,
    open: async (secret: string): Promise<string> => {
      offered.push(secret);
      if (secret !== accepted) throw refused();
      return `session(${secret})`;
    },
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-login-"));
  await createNonAdminSecret({ ...location(), secret: "old-secret", owner });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("openWithUserSecret", () => {
  it("opens with <file> when the backend accepts it", async () => {
    const b = backend("old-secret");
    expect(await openWithUserSecret({ backend: "pkcs11" }, location(), b.open)).toEqual({ value: "session(old-secret)", secret: "current" });
    expect(b.offered).toEqual(["old-secret"]);
  });

  it("without a .next file, a refusal is the backend's error", async () => {
    const b = backend("new-secret");
    await expect(openWithUserSecret({ backend: "pkcs11" }, location(), b.open)).rejects.toThrow("wrong passphrase");
    expect(b.offered).toEqual(["old-secret"]);
  });

  it("follows a rotation in progress, and a holder that opens again follows it to its end", async () => {
    const target = { root, handling: "plaintext" as const, credsOptions: {} };
    await writeNextSecret(target, { owner, backendUser: "op1" }, "new-secret");
    const b = backend("new-secret");
    expect(await openWithUserSecret({ backend: "pkcs11" }, location(), b.open)).toEqual({ value: "session(new-secret)", secret: "next" });
    expect(b.offered).toEqual(["old-secret", "new-secret"]);
    // signstar-configure renames .next over <file> (step 3): opening again reads the files anew.
    await rename(secretFilePath(location(), "next"), secretFilePath(location()));
    expect(await openWithUserSecret({ backend: "pkcs11" }, location(), backend("new-secret").open)).toEqual({ value: "session(new-secret)", secret: "current" });
  });

  it("a rotation that finishes between reading <file> and the backend's refusal is followed (no failed request)", async () => {
    // The interleaving forced step by step: the tool has read <file>; before its login reaches the backend,
    // signstar-configure writes .next, changes the backend's secret and renames .next over <file>. The refused
    // login then finds no .next, but a changed <file>.
    const target = { root, handling: "plaintext" as const, credsOptions: {} };
    const before = await readNonAdminSecret({ ...location(), version: "current" });
    const offered: string[] = [];
    let backendSecret = before;
    const open = async (secret: string): Promise<string> => {
      offered.push(secret);
      if (offered.length === 1) {
        await writeNextSecret(target, { owner, backendUser: "op1" }, "rotated-secret");
        backendSecret = "rotated-secret";
        await rename(secretFilePath(location(), "next"), secretFilePath(location()));
      }
      if (secret !== backendSecret) throw refused();
      return `session(${secret})`;
    };
    expect(await openWithUserSecret({ backend: "pkcs11" }, location(), open)).toEqual({ value: "session(rotated-secret)", secret: "current" });
    expect(offered).toEqual([before, "rotated-secret"]);
  });

  it("after a refusal each changed copy is tried once, <file> then .next, and then the refusal stands", async () => {
    const target = { root, handling: "plaintext" as const, credsOptions: {} };
    const first = await readNonAdminSecret({ ...location(), version: "current" });
    const offered: string[] = [];
    const open = async (secret: string): Promise<never> => {
      offered.push(secret);
      if (offered.length === 1) {
        // A rotation finished and the next one began while this login was on its way; the backend takes none.
        await writeNextSecret(target, { owner, backendUser: "op1" }, "second-secret");
        await rename(secretFilePath(location(), "next"), secretFilePath(location()));
        await writeNextSecret(target, { owner, backendUser: "op1" }, "third-secret");
      }
      throw refused();
    };
    await expect(openWithUserSecret({ backend: "pkcs11" }, location(), open)).rejects.toThrow("wrong passphrase");
    expect(offered).toEqual([first, "second-secret", "third-secret"]);
    await rename(secretFilePath(location(), "next"), secretFilePath(location()));
  });

  it("other failures are not retried with .next", async () => {
    const target = { root, handling: "plaintext" as const, credsOptions: {} };
    await writeNextSecret(target, { owner, backendUser: "op1" }, "newer-secret");
    const offered: string[] = [];
    const open = async (secret: string): Promise<never> => {
      offered.push(secret);
      throw new Error("token not present");
    };
    const current = await readNonAdminSecret({ ...location(), version: "current" });
    await expect(openWithUserSecret({ backend: "pkcs11" }, location(), open)).rejects.toThrow("token not present");
    expect(offered).toEqual([current]);
  });
});
