/**
 * PKCS#11 sign-time benchmark (run by tests/bench/index.ts via `npm run bench`): p50/p95 of one signature per
 * algorithm on SoftHSM directly and through p11-kit-client (ECDSA/RSA only: p11-kit 0.24 does not forward
 * EdDSA), plus a full OpenPGP signature (hasher state → packet → armor) with an HSM Ed25519 key (goal ≤ 2 ms
 * p50) and the cost of opening a key (C_Initialize + login + find).
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { KeySetup, KeyType } from "../../lib/config/model.js";
import { openPkcs11Admin, openPkcs11SigningKey, type Pkcs11SigningKey } from "../../lib/backends/pkcs11/index.js";
import { armor } from "../../lib/signing/openpgp/armor.js";
import { createCertificate, parseCertificate } from "../../lib/signing/openpgp/certificate.js";
import { signHasherState } from "../../lib/signing/openpgp/signature.js";
import { Sha512State } from "../../lib/signing/sha512-state.js";
import { P11_KIT_CLIENT_MODULE, startP11KitServer } from "../support/p11kit.js";
import { createSoftHsm } from "../support/softhsm.js";

const ITERATIONS = 300;
const WARMUP = 20;

function setup(keyType: KeyType, keyLength?: number): KeySetup {
  return {
    keyType,
    keyMechanisms: [keyType === "Curve25519" ? "EdDsaSignature" : keyType === "Rsa" ? "RsaSignaturePkcs1" : "EcdsaSignature"],
    signatureType: keyType === "Curve25519" ? "EdDsa" : keyType === "Rsa" ? "Pkcs1" : (`Ecdsa${keyType.slice(2)}` as "EcdsaP256"),
    ...(keyLength !== undefined ? { keyLength } : {}),
    openpgp: { userIds: ["Bench <bench@example.org>"], version: 4 },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function measure(fn: () => Promise<unknown>, n = ITERATIONS): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

function line(name: string, r: { p50: number; p95: number }): void {
  console.log(`pkcs11  ${name.padEnd(44)} p50 ${r.p50.toFixed(3).padStart(8)} ms   p95 ${r.p95.toFixed(3).padStart(8)} ms`);
}

const KEYS: { label: string; type: KeyType; bits?: number; viaP11Kit: boolean }[] = [
  { label: "ed25519", type: "Curve25519", viaP11Kit: false },
  { label: "p256", type: "EcP256", viaP11Kit: true },
  { label: "p384", type: "EcP384", viaP11Kit: true },
  { label: "p521", type: "EcP521", viaP11Kit: true },
  { label: "rsa2048", type: "Rsa", bits: 2048, viaP11Kit: true },
  { label: "rsa4096", type: "Rsa", bits: 4096, viaP11Kit: true },
];

export async function run(): Promise<void> {
  const hsm = await createSoftHsm();
  const savedConf = process.env["SOFTHSM2_CONF"];
  const savedAddr = process.env["P11_KIT_SERVER_ADDRESS"];
  hsm.activate();
  const server = await startP11KitServer({ provider: hsm.module, tokenUri: "pkcs11:token=signstar", env: hsm.env });
  try {
    const admin = await openPkcs11Admin({ module: hsm.module, token: { label: "signstar" }, userPin: hsm.token.userPin });
    try {
      for (const k of KEYS) await admin.generateKey(`label:${k.label}`, setup(k.type, k.bits));
    } finally {
      await admin.close();
    }
    process.env["P11_KIT_SERVER_ADDRESS"] = server.address;
    const open = (module: string, label: string): Promise<Pkcs11SigningKey> =>
      openPkcs11SigningKey({ module, token: { label: "signstar" }, key: { label }, pin: hsm.token.userPin });

    line("open key (init+login+find), SoftHSM", await measure(async () => (await open(hsm.module, "p256")).close(), 50));
    line("open key (init+login+find), p11-kit", await measure(async () => (await open(P11_KIT_CLIENT_MODULE, "p256")).close(), 50));

    const digest = randomBytes(64);
    for (const k of KEYS) {
      const key = await open(hsm.module, k.label);
      try {
        line(`signDigest ${k.label}, SoftHSM`, await measure(() => key.signDigest(digest), k.label === "rsa4096" ? 100 : ITERATIONS));
      } finally {
        await key.close();
      }
      if (!k.viaP11Kit) continue;
      const viaKit = await open(P11_KIT_CLIENT_MODULE, k.label);
      try {
        line(`signDigest ${k.label}, p11-kit`, await measure(() => viaKit.signDigest(digest), k.label === "rsa4096" ? 100 : ITERATIONS));
      } finally {
        await viaKit.close();
      }
    }

    // Full OpenPGP signature with the HSM Ed25519 key, as signstar-sign does after opening the key.
    const ed = await open(hsm.module, "ed25519");
    try {
      const cert = parseCertificate(await createCertificate(ed, { userIds: ["Bench <bench@example.org>"], created: new Date(Date.now() - 60_000) }));
      const state = Sha512State.create().update(randomBytes(4096));
      line(
        "OpenPGP signature ed25519 (state→armor), SoftHSM",
        await measure(async () => armor("SIGNATURE", await signHasherState(state, ed, cert, { created: new Date() }))),
      );
    } finally {
      await ed.close();
    }
  } finally {
    await server.stop();
    await hsm.cleanup();
    if (savedConf !== undefined) process.env["SOFTHSM2_CONF"] = savedConf;
    if (savedAddr !== undefined) process.env["P11_KIT_SERVER_ADDRESS"] = savedAddr;
    else delete process.env["P11_KIT_SERVER_ADDRESS"];
  }
}

// Allow `node dist/tests/bench/pkcs11.js` on its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  run().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exitCode = 1;
  });
}
