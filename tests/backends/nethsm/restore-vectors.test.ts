/** The real backup vectors restore into the stand-in; after unlock their users and keys work. */
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { NetHsmClient } from "../../../lib/backends/nethsm/index.js";
import { TEST_SCRYPT } from "../../../lib/nethsm-backup/index.js";
import { startStandIn, type StandIn } from "../../support/nethsm-standin/index.js";
import { VECTORS } from "../../nethsm-backup/vectors.js";
import { clientObserver, connection, errorOf, recorder } from "./harness.js";

const rec = recorder();
let s: StandIn | undefined;
const clients: NetHsmClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await s?.close();
  s = undefined;
  expect(rec.problems).toEqual([]);
});

async function restored(file: string): Promise<{ standIn: StandIn; client: (u?: string, p?: string) => NetHsmClient }> {
  const v = VECTORS.find((x) => x.file === file)!;
  s = await startStandIn({
    rateLimitMs: 0,
    ...(v.scrypt ? { scrypt: v.scrypt } : {}),
    onExchange: (e) => rec.record({ method: e.method, path: e.path, status: e.status, responseContentType: e.responseContentType, responseBody: e.responseBody }, "response"),
  });
  const standIn = s;
  const conn = connection(standIn.url, { kind: "Fingerprints", sha256: [standIn.tls.fingerprint] });
  const client = (user?: string, passphrase?: string): NetHsmClient => {
    const c = new NetHsmClient({ connections: [conn], observer: clientObserver(rec), ...(user ? { credentials: { user, passphrase: passphrase! } } : {}) });
    clients.push(c);
    return c;
  };
  const anon = client();
  await anon.restore(readFileSync(v.path), { backupPassphrase: v.backupPassphrase });
  expect(await anon.state()).toBe("Locked");
  await anon.unlock(v.unlockPassphrase);
  expect(await anon.state()).toBe("Operational");
  return { standIn, client };
}

describe("restoring real NetHSM backups into the stand-in", () => {
  it("nethsm-sdk-py-v1.bin: users log in with their passphrases; mykey signs EdDSA", async () => {
    const { client } = await restored("nethsm-sdk-py-v1.bin");
    const admin = client("admin", "adminadmin");
    expect(await admin.listUsers()).toEqual(["admin", "backup", "operator"]);
    expect(await admin.listKeys()).toEqual(["mykey"]);
    const op = client("operator", "operatoroperator");
    const msg = Buffer.from("restored");
    const sig = await op.sign("mykey", "EdDSA", msg);
    expect(verify(null, msg, createPublicKey(await op.getPublicKeyPem("mykey")), sig)).toBe(true);
    // the restored device makes backups again with the restored backup passphrase
    const backup = await client("backup", "backupbackup").backup();
    expect(backup.subarray(0, 16).toString("latin1")).toBe("_NETHSM_BACKUP_\x01");
  });

  it("nethsm-sdk-py-v0.bin (format 0) restores as well", async () => {
    const { client } = await restored("nethsm-sdk-py-v0.bin");
    expect(await client("admin", "adminadmin").getKey("mykey")).toMatchObject({ type: "Curve25519", mechanisms: ["EdDSA_Signature"] });
  });

  it("nethsm-tests-backup_v0_201.v0.bin: namespaces, namespaced keys, tags and a Generic key", async () => {
    const { standIn } = await restored("nethsm-tests-backup_v0_201.v0.bin");
    const d = standIn.device;
    expect([...d.namespaces]).toEqual(["namespace1"]);
    expect([...d.keyStore(undefined).keys()].sort()).toEqual(["MyAESKey", "myKey1"]);
    expect([...d.keyStore("namespace1").keys()]).toEqual(["myKey1"]);
    expect(d.keyStore(undefined).get("myKey1")!.type).toBe("RSA");
    expect(d.keyStore(undefined).get("MyAESKey")!.type).toBe("Generic");
    expect([...d.users.get("operator")!.tags]).toEqual(["berlin", "frankfurt"]);
    expect(d.users.get("namespace1~nadmin")!.role).toBe("Administrator");
  });

  it("nethsm-keyfender-test-v3.1_backup_full.v0.bin with keyfender's test scrypt parameters", async () => {
    expect(VECTORS.find((v) => v.file.includes("v3.1"))!.scrypt).toEqual(TEST_SCRYPT);
    const { standIn } = await restored("nethsm-keyfender-test-v3.1_backup_full.v0.bin");
    expect([...standIn.device.namespaces].sort()).toEqual(["namespace1", "namespace2"]);
    expect(standIn.device.users.size).toBe(7);
  });

  it("a wrong unlock passphrase after a restore is a 403 and the device stays Locked", async () => {
    const v = VECTORS[0]!;
    s = await startStandIn({ rateLimitMs: 0 });
    const c = new NetHsmClient({ connections: [connection(s.url, { kind: "Unsafe" })] });
    clients.push(c);
    await c.restore(readFileSync(v.path), { backupPassphrase: v.backupPassphrase });
    const err = await errorOf(() => c.unlock("not-the-unlock-passphrase"));
    expect(err.message).toContain("POST /unlock: 403");
    expect(await c.state()).toBe("Locked");
    const truncated = readFileSync(VECTORS[0]!.path).subarray(0, 1000);
    const s2 = await startStandIn({ rateLimitMs: 0 });
    try {
      const c2 = new NetHsmClient({ connections: [connection(s2.url, { kind: "Unsafe" })] });
      clients.push(c2);
      const e2 = await errorOf(() => c2.restore(truncated, { backupPassphrase: v.backupPassphrase }));
      expect(e2.message).toContain("400 bad request: Restore failed: truncated NetHSM backup");
      expect(await c2.state()).toBe("Unprovisioned");
    } finally {
      await s2.close();
    }
  });
});
