import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyType } from "../../../lib/config/model.js";
import { type Pkcs11Administration, Pkcs11UsageError, openPkcs11Admin, openPkcs11SigningKey } from "../../../lib/backends/pkcs11/index.js";
import { armor } from "../../../lib/signing/openpgp/armor.js";
import { createCertificate, parseCertificate } from "../../../lib/signing/openpgp/certificate.js";
import { signHasherState } from "../../../lib/signing/openpgp/signature.js";
import { Sha512State } from "../../../lib/signing/sha512-state.js";
import { type SoftHsm, createSoftHsm } from "../../support/softhsm.js";
import { setupFor } from "./helpers.js";

const run = promisify(execFile);

function sqopVerify(sig: string, cert: string, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn("sqop", ["verify", sig, cert], { stdio: ["pipe", "ignore", "ignore"] });
    c.on("error", reject);
    c.on("close", (code) => resolve(code ?? -1));
    c.stdin.end(data);
  });
}

const TYPES: { type: KeyType; label: string; bits?: number }[] = [
  { type: "Curve25519", label: "ed" },
  { type: "EcP256", label: "p256" },
  { type: "EcP384", label: "p384" },
  { type: "EcP521", label: "p521" },
  { type: "Rsa", label: "rsa", bits: 2048 },
];

describe("OpenPGP certificates and signatures made with SoftHSM keys", () => {
  let hsm: SoftHsm;
  let admin: Pkcs11Administration;
  let dir: string;
  const fingerprints = new Map<string, string>();
  /** The certificate bytes stored on the token per key label. */
  const certificates = new Map<string, Uint8Array>();

  beforeAll(async () => {
    hsm = await createSoftHsm();
    hsm.activate();
    dir = await mkdtemp(join(tmpdir(), "signstar-p11pgp-"));
    admin = await openPkcs11Admin({ module: hsm.module, token: { label: "signstar" }, userPin: hsm.token.userPin });
    for (const t of TYPES) {
      await admin.generateKey(`label:${t.label}`, setupFor(t.type, t.bits));
      const key = await openPkcs11SigningKey({ module: hsm.module, token: { label: "signstar" }, key: { label: t.label }, pin: hsm.token.userPin });
      try {
        const cert = await createCertificate(key, { userIds: [`HSM ${t.label} <${t.label}@example.org>`], created: new Date("2026-01-02T03:04:05Z") });
        await admin.putCertificate(`label:${t.label}`, cert);
        certificates.set(t.label, cert);
        fingerprints.set(t.label, Buffer.from(parseCertificate(cert).fingerprint).toString("hex").toUpperCase());
      } finally {
        await key.close();
      }
    }
  });
  afterAll(async () => {
    await admin?.close();
    await run("gpgconf", ["--homedir", join(dir, "gnupg"), "--kill", "gpg-agent"]).catch(() => undefined);
    await hsm?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("lists the OpenPGP fingerprint of every stored certificate; the certificate comes back from the token", async () => {
    const keys = await admin.listKeys();
    for (const t of TYPES) {
      const info = keys.find((k) => k.label === t.label);
      expect(info?.openpgpFingerprint).toBe(fingerprints.get(t.label));
      const stored = await admin.getCertificate(`label:${t.label}`);
      expect(parseCertificate(stored!).publicKey).toEqual(info!.publicKey);
    }
    // A certificate of another key is refused.
    const ed = await admin.getCertificate("label:ed");
    await expect(admin.putCertificate("label:p256", ed!)).rejects.toThrow(Pkcs11UsageError);
    await expect(admin.putCertificate("label:p256", new Uint8Array([1, 2, 3]))).rejects.toThrow(/not a valid OpenPGP v4 certificate/);
  });

  for (const t of TYPES) {
    it(`${t.type}: gpg and sqop verify a signature over a hasher state; tampered data fails`, async () => {
      const key = await openPkcs11SigningKey({ module: hsm.module, token: { label: "signstar" }, key: { label: t.label }, pin: hsm.token.userPin });
      try {
        const certBytes = await key.certificate();
        expect(Buffer.from(certBytes ?? []).toString("hex")).toBe(Buffer.from(certificates.get(t.label)!).toString("hex"));
        const cert = parseCertificate(certBytes!);
        const data = Buffer.from(`package contents for ${t.label}\n`.repeat(50));
        const state = Sha512State.create().update(data);
        const sig = await signHasherState(state, key, cert, { created: new Date() });
        const base = join(dir, t.label);
        await writeFile(`${base}.cert.asc`, armor("PUBLIC KEY BLOCK", cert.bytes));
        await writeFile(`${base}.sig.asc`, armor("SIGNATURE", sig));
        await writeFile(`${base}.data`, data);
        expect(await sqopVerify(`${base}.sig.asc`, `${base}.cert.asc`, data)).toBe(0);
        expect(await sqopVerify(`${base}.sig.asc`, `${base}.cert.asc`, Buffer.concat([data, Buffer.from("x")]))).not.toBe(0);
        const home = join(dir, "gnupg");
        await run("mkdir", ["-p", "-m", "700", home]);
        await run("gpg", ["--homedir", home, "--batch", "--quiet", "--import", `${base}.cert.asc`]);
        const v = await run("gpg", ["--homedir", home, "--batch", "--status-fd", "1", "--verify", `${base}.sig.asc`, `${base}.data`]);
        expect(v.stdout).toContain(`[GNUPG:] VALIDSIG ${fingerprints.get(t.label)}`);
      } finally {
        await key.close();
      }
    });
  }
});
