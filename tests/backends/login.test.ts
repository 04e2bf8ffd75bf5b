// openWithUserSecret: <file> first; on a refusal, <file>.next once; both read anew on every call (re-opening).
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openWithUserSecret } from "../../lib/backends/index.js";
import { writeNextSecret } from "../../lib/configure/secret-rotation.js";
import { createNonAdminSecret, secretFilePath, type ReadSecretOptions } from "../../lib/secrets/non-admin.js";

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

  it("other failures are not retried with .next", async () => {
    const target = { root, handling: "plaintext" as const, credsOptions: {} };
    await writeNextSecret(target, { owner, backendUser: "op1" }, "newer-secret");
    const offered: string[] = [];
    const open = async (secret: string): Promise<never> => {
      offered.push(secret);
      throw new Error("token not present");
    };
    await expect(openWithUserSecret({ backend: "pkcs11" }, location(), open)).rejects.toThrow("token not present");
    expect(offered).toEqual(["new-secret"]);
  });
});
