import { createHmac, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  BackupError,
  decryptBackup,
  deriveKey,
  encryptBackup,
  listItems,
  lockDomainKey,
  openBackup,
  parseBackup,
  parseKeyRecord,
  parseUserRecord,
  sealEntries,
  TEST_SCRYPT,
  validateBackup,
  encodeKeyRecord,
  encodeUserRecord,
} from "../../lib/nethsm-backup/index.js";
import { VECTOR_DIR, VECTORS } from "./vectors.js";

describe("backup vectors", () => {
  it("covers every file in the vector directory", () => {
    const files = readdirSync(VECTOR_DIR).filter((f) => f.endsWith(".bin")).sort();
    expect(files).toEqual(VECTORS.map((v) => v.file).sort());
  });

  for (const v of VECTORS) {
    describe(v.file, () => {
      const bytes = readFileSync(v.path);

      it("parses without a passphrase", () => {
        const f = parseBackup(bytes);
        expect(f.version).toBe(v.version);
        expect(f.salt.length).toBe(16);
        expect(f.encryptedItems.length).toBe(v.itemCount);
        expect(f.encryptedDeviceId !== undefined).toBe(v.version === 1);
      });

      it("decrypts with its backup passphrase and lists its items", async () => {
        const d = await decryptBackup(parseBackup(bytes), { passphrase: v.backupPassphrase, ...(v.scrypt ? { scrypt: v.scrypt } : {}) });
        const items = listItems(d);
        expect(items.length).toBe(v.itemCount);
        if (v.version === 1) expect(items).toEqual(v.expectItems);
        else expect(items).toEqual(expect.arrayContaining([...v.expectItems]));
        expect(items).toContain("/config/version");
        expect(d.lockedDomainKey.length).toBe(60);
        if (v.version === 1) {
          expect(d.deviceId).toBe("0000000000");
          expect(d.configStoreKey?.length).toBe(32);
        }
      });

      it("opens the stores with the unlock passphrase; user digests check", async () => {
        const d = await decryptBackup(parseBackup(bytes), { passphrase: v.backupPassphrase, ...(v.scrypt ? { scrypt: v.scrypt } : {}) });
        const o = await openBackup(d, v.unlockPassphrase, v.scrypt);
        expect(o.domainKey.length).toBe(32);
        const users = o.entries.filter((e) => /^\/authentication\/[^.]/.test(e.key));
        expect(users.length).toBeGreaterThan(2);
        for (const u of users) {
          const rec = parseUserRecord(u.value!, u.key);
          expect(rec.salt.length).toBe(16);
          expect(rec.digest.length).toBe(32);
          expect(encodeUserRecord(rec)).toEqual(Buffer.from(u.value!)); // the codec round-trips the device's bytes
        }
        const version = o.entries.find((e) => e.key === "/config/version");
        expect(Buffer.from(version!.value!).toString()).toBe(String(v.version));
        for (const k of o.entries.filter((e) => /^\/key\/(\.[^/]+\/)?[^.]/.test(e.key))) {
          const rec = parseKeyRecord(k.value!, k.key);
          expect(rec.mechanisms.length).toBeGreaterThan(0);
        }
      });

      it("refuses a wrong backup passphrase with a one-line error naming backup-version", async () => {
        const err = await decryptBackup(parseBackup(bytes), { passphrase: "wrong-passphrase", ...(v.scrypt ? { scrypt: v.scrypt } : {}) }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(BackupError);
        expect((err as Error).message).toBe("could not decrypt backup-version: authentication failed: is the backup passphrase correct?");
        expect((err as Error).message).not.toContain("wrong-passphrase");
      });

      it("refuses truncated copies", () => {
        for (const cut of [1, 2, 3, 17, 100, bytes.length - 20]) {
          const t = bytes.subarray(0, bytes.length - cut);
          let err: unknown;
          try {
            parseBackup(t);
          } catch (e) {
            err = e;
          }
          if (v.version === 1) {
            expect((err as Error).message).toMatch(/^truncated NetHSM backup|^not a NetHSM backup/);
          } else {
            // v0 has no trailer: a cut inside the last item is a framing error, except at an item boundary.
            expect(err).toBeInstanceOf(BackupError);
            expect((err as Error).message).toMatch(/^truncated at byte \d+: .* needs \d+ bytes|^truncated at byte \d+: missing length|^not a NetHSM/);
          }
          expect((err as Error).message).not.toMatch(/\n/);
        }
      });

      it("detects a flipped bit in any encrypted field", async () => {
        const K = await deriveKey(v.backupPassphrase, parseBackup(bytes).salt, v.scrypt);
        // the last byte of the first item, and a byte in the middle of the encrypted version
        const f0 = parseBackup(bytes);
        const itemOffset = bytes.indexOf(Buffer.from(f0.encryptedItems[0]!)) + f0.encryptedItems[0]!.length - 1;
        const versionOffset = bytes.indexOf(Buffer.from(f0.encryptedVersion)) + 14;
        for (const [offset, what] of [[itemOffset, "item 1"], [versionOffset, "backup-version"]] as const) {
          const flipped = Buffer.from(bytes);
          flipped[offset] = flipped[offset]! ^ 0x01;
          const err = await decryptBackup(parseBackup(flipped), { key: K }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(BackupError);
          expect((err as Error).message).toContain(`could not decrypt ${what}: authentication failed`);
        }
      });
    });
  }
});

describe("validateBackup", () => {
  it("validates structure without a passphrase and lists items with one", async () => {
    const v = VECTORS[0]!;
    const bytes = readFileSync(v.path);
    expect(await validateBackup(bytes)).toEqual({ version: 1, itemCount: 17 });
    const full = await validateBackup(bytes, { passphrase: v.backupPassphrase });
    expect(full.items).toEqual(v.expectItems);
    await expect(validateBackup(bytes.subarray(0, 100))).rejects.toThrow("truncated NetHSM backup: the version 1 end marker and trailer are missing");
  });
});

describe("header errors", () => {
  it("names a bad magic and an unknown version", () => {
    expect(() => parseBackup(Buffer.from("hello world, this is not a backup"))).toThrow("not a NetHSM backup file (bad magic)");
    const b = Buffer.from(readFileSync(VECTORS[0]!.path));
    b[15] = 7;
    expect(() => parseBackup(b)).toThrow("unsupported NetHSM backup version 7 (supported: 0, 1)");
    expect(() => parseBackup(Buffer.alloc(0))).toThrow(BackupError);
  });
  it("refuses a wrong unlock passphrase", async () => {
    const v = VECTORS[0]!;
    const d = await decryptBackup(parseBackup(readFileSync(v.path)), { passphrase: v.backupPassphrase });
    await expect(openBackup(d, "not-the-unlock-passphrase")).rejects.toThrow(
      "could not decrypt the domain key: authentication failed: is the unlock passphrase correct?",
    );
  });
});

describe("writer", () => {
  it("round-trips through the reader (outer and inner layers)", async () => {
    const salt = randomBytes(16);
    const unlockSalt = randomBytes(16);
    const domainKey = randomBytes(32);
    const configStoreKey = randomBytes(32);
    const K = await deriveKey("backup-pass-123", salt, TEST_SCRYPT);
    const userSalt = randomBytes(16);
    const user = {
      realName: "Jöhn \u0001",
      salt: userSalt,
      digest: createHmac("sha256", userSalt).update("operatorpass").digest(),
      role: "Operator" as const,
      tags: ["berlin"],
    };
    const key = { mechanisms: ["EdDSA_Signature"], priv: { raw: randomBytes(32) }, cert: { contentType: "application/octet-stream", data: randomBytes(50) }, operations: 3, tags: [], label: "lbl" };
    const plain = [
      { key: "/.initialized", value: Buffer.alloc(0) },
      { key: "/config/version", value: Buffer.from("1") },
      { key: "/config/backup-salt", value: salt },
      { key: "/local/dev1/config/unlock-salt", value: unlockSalt },
      { key: "/authentication/ns1~op", value: encodeUserRecord(user) },
      { key: "/key/.ns1/k1", value: encodeKeyRecord(key) },
    ];
    const bytes = encryptBackup({
      salt,
      backupKey: K,
      lockedDomainKey: await lockDomainKey(domainKey, "unlock-pass-123", unlockSalt, TEST_SCRYPT),
      deviceId: "dev1",
      configStoreKey,
      entries: sealEntries(plain, domainKey, configStoreKey),
    });
    const f = parseBackup(bytes);
    expect(f.version).toBe(1);
    const d = await decryptBackup(f, { passphrase: "backup-pass-123", scrypt: TEST_SCRYPT });
    expect(d.deviceId).toBe("dev1");
    expect(listItems(d)).toEqual(plain.map((p) => p.key));
    const o = await openBackup(d, "unlock-pass-123", TEST_SCRYPT);
    expect(Buffer.from(o.domainKey)).toEqual(domainKey);
    expect(o.entries.map((e) => Buffer.from(e.value!).toString("hex"))).toEqual(plain.map((p) => p.value.toString("hex")));
    expect(parseUserRecord(o.entries[4]!.value!, "u")).toEqual({ ...user, salt: Buffer.from(user.salt), digest: Buffer.from(user.digest) });
    const k = parseKeyRecord(o.entries[5]!.value!, "k");
    expect(k.label).toBe("lbl");
    expect(Buffer.from(k.cert!.data)).toEqual(key.cert.data);
    // the store entries really are encrypted in the file
    expect(bytes.includes(Buffer.from("berlin"))).toBe(false);
  });
});
