/**
 * BackendNoteSigner (lib/tools/log-writer.ts): the log key on a token or NetHSM as a signed-note signer. Its keys
 * here are real Ed25519 keys (node:crypto) behind the Ed25519MessageKey interface, failing as a backend does:
 * a refused login (rotated secret) and a lost connection are cured by one re-open; anything else is not retried;
 * a re-opened key that is another key never signs a checkpoint. Every signature is checked with the verifier
 * key the signer published (lib/tlog/note.ts), the one a log's readers use.
 */
import { generateKeyPairSync, sign as edSign, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Ed25519MessageKey } from "../../lib/backends/index.js";
import { ExitCode, SignstarError } from "../../lib/errors.js";
import { BackendNoteSigner } from "../../lib/tools/log-writer.js";
import { parseVerifierKey } from "../../lib/tlog/note.js";

interface TestKey extends Ed25519MessageKey {
  fail?: Error;
  closed: boolean;
}

function ed25519(): { privateKey: KeyObject; a: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const a = new Uint8Array(publicKey.export({ format: "der", type: "spki" }).subarray(-32));
  return { privateKey, a };
}

function keyOf(k: { privateKey: KeyObject; a: Uint8Array }): TestKey {
  const key: TestKey = {
    publicKey: { kind: "ed25519", a: k.a },
    closed: false,
    async signEd25519Message(message) {
      if (key.fail) throw key.fail;
      return new Uint8Array(edSign(null, message, k.privateKey));
    },
    async close() {
      key.closed = true;
    },
  };
  return key;
}

const refused = Object.assign(new Error("POST /keys/{id}/sign: 401 Unauthorized"), { authenticationFailed: true as const });
const message = new TextEncoder().encode("o/log\n1\nAAAA\n");

describe("BackendNoteSigner", () => {
  it("re-opens once after a refused login, signs with the same key, and says why", async () => {
    const k = ed25519();
    const opened: TestKey[] = [];
    const causes: string[] = [];
    const signer = await BackendNoteSigner.open("o/log", async () => (opened.push(keyOf(k)), opened.at(-1)!), { onReopen: (c) => causes.push(c) });
    opened[0]!.fail = refused;
    const sig = await signer.sign(message);
    expect(parseVerifierKey(signer.verifierKey).verify(message, sig)).toBe(true);
    expect(opened).toHaveLength(2);
    expect(opened[0]!.closed).toBe(true);
    expect(signer.opened).toBe(2);
    expect(causes).toEqual(["POST /keys/{id}/sign: 401 Unauthorized"]);
    await signer.close();
    expect(opened[1]!.closed).toBe(true);
  });

  it("re-opens after a backend error (a restarted server), not after any other failure", async () => {
    const k = ed25519();
    const opened: TestKey[] = [];
    const signer = await BackendNoteSigner.open("o/log", async () => (opened.push(keyOf(k)), opened.at(-1)!));
    opened[0]!.fail = new SignstarError("NetHSM: connection reset", ExitCode.Backend);
    expect(parseVerifierKey(signer.verifierKey).verify(message, await signer.sign(message))).toBe(true);
    expect(opened).toHaveLength(2);
    opened[1]!.fail = new TypeError("a bug");
    await expect(signer.sign(message)).rejects.toThrow("a bug");
    expect(opened).toHaveLength(2);
  });

  it("refuses to sign with a re-opened key that is another key, and keeps refusing", async () => {
    const original = ed25519();
    const opened: TestKey[] = [];
    // The first open gives the log's key; every later open a different key (the backend's key was replaced).
    const signer = await BackendNoteSigner.open("o/log", async () => (opened.push(keyOf(opened.length === 0 ? original : ed25519())), opened.at(-1)!));
    opened[0]!.fail = refused;
    await expect(signer.sign(message)).rejects.toThrow(/^the signing log key o\/log\+[0-9a-f]{8} was replaced on its backend; no checkpoint is signed with another key$/);
    await expect(signer.sign(message)).rejects.toThrow(/was replaced on its backend/);
    expect(opened).toHaveLength(3);
    expect(opened.every((k) => k.closed)).toBe(true);
  });

  it("is not made from a key that is not Ed25519", async () => {
    const key: Ed25519MessageKey = { publicKey: { kind: "rsa", n: new Uint8Array(256), e: Uint8Array.of(1, 0, 1) }, signEd25519Message: async () => new Uint8Array(64), close: async () => {} };
    await expect(BackendNoteSigner.open("o/log", async () => key)).rejects.toThrow(/not an Ed25519 key/);
  });
});
