/**
 * Makes sure a PKCS#11 signing mapping's key exists on its token and carries an OpenPGP certificate made by
 * that key (so its fingerprint is fixed once, on the token, and every signature names the same issuer).
 * Idempotent: an existing key keeps its certificate.
 */
import type { KeySetup, Pkcs11KeySelector, TokenSelector } from "../config/model.js";
import { createCertificate, parseCertificate } from "../signing/openpgp/certificate.js";
import { toHex } from "../signing/openpgp/fingerprint.js";

export interface EnsurePkcs11KeyOptions {
  readonly module: string;
  readonly token: TokenSelector;
  readonly key: Pkcs11KeySelector;
  readonly setup: KeySetup;
  readonly userPin: string;
  readonly now: Date;
}

export interface EnsuredKey {
  readonly generated: boolean;
  readonly certified: boolean;
  /** Uppercase hex v4 fingerprint of the key's certificate. */
  readonly fingerprint: string;
  readonly certificate: Uint8Array;
}

export async function ensurePkcs11SigningKey(opts: EnsurePkcs11KeyOptions): Promise<EnsuredKey> {
  const { openPkcs11Admin, openPkcs11SigningKey, keyRefOf } = await import("../backends/pkcs11/index.js");
  const ref = keyRefOf(opts.key);
  const common = { module: opts.module, token: opts.token };
  let generated = false;
  let certificate: Uint8Array | undefined;
  const admin = await openPkcs11Admin({ ...common, userPin: opts.userPin });
  try {
    const keys = await admin.listKeys();
    if (!keys.some((k) => k.ref === ref)) {
      await admin.generateKey(ref, opts.setup);
      generated = true;
    }
    certificate = await admin.getCertificate(ref);
  } finally {
    await admin.close();
  }
  let certified = false;
  if (!certificate) {
    const signer = await openPkcs11SigningKey({ ...common, key: opts.key, pin: opts.userPin });
    try {
      certificate = await createCertificate(signer, { userIds: opts.setup.openpgp.userIds, created: opts.now });
    } finally {
      await signer.close();
    }
    const again = await openPkcs11Admin({ ...common, userPin: opts.userPin });
    try {
      await again.putCertificate(ref, certificate);
    } finally {
      await again.close();
    }
    certified = true;
  }
  return { generated, certified, certificate, fingerprint: toHex(parseCertificate(certificate).fingerprint).toUpperCase() };
}
