/**
 * NetHSM sign latency against the stand-in (started as a separate process, pinned TLS): the same operator
 * signing a SHA-512 digest through SigningKey.signDigest with a keep-alive agent vs a new TLS connection per
 * request, for Ed25519, P-256 and RSA-2048; plus the per-invocation cost of signstar-sign's pattern
 * (open key = GET /keys/{id}, GET cert, sign, close) on fresh connections. p50/p95/mean in ms.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NetHsmClient, openNetHsmSigningKey } from "../../lib/backends/nethsm/index.js";
import { httpsUrl } from "../../lib/config/primitives.js";
import type { NetHsmConnection } from "../../lib/config/model.js";

const WARMUP = 20;
const N = 300;

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `p50 ${q(0.5).toFixed(2)}  p95 ${q(0.95).toFixed(2)}  mean ${mean.toFixed(2)}`;
}

async function startStandInProcess(): Promise<{ child: ChildProcess; url: string; fingerprint: string }> {
  const here = dirname(fileURLToPath(import.meta.url));
  const child = spawn(process.execPath, [join(here, "../support/nethsm-standin/main.js"), "--port", "0", "--no-rate-limit"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("stand-in did not start within 20 s")), 20_000);
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const url = /listening on (\S+)/.exec(out)?.[1];
      const fp = /sha256 ([0-9a-f]{64})/.exec(out)?.[1];
      if (url && fp) {
        clearTimeout(timer);
        resolve({ child, url, fingerprint: fp });
      }
    });
    child.once("exit", (code) => reject(new Error(`stand-in exited with ${code}`)));
  });
}

export async function run(): Promise<void> {
  const { child, url, fingerprint } = await startStandInProcess();
  try {
    const conn: NetHsmConnection = { url: httpsUrl(url), tlsSecurity: { kind: "Fingerprints", sha256: [fingerprint] } };
    const anon = new NetHsmClient({ connections: [conn] });
    await anon.provision({ unlockPassphrase: "bench-unlock-pass", adminPassphrase: "bench-admin-pass", systemTime: new Date() });
    const admin = anon.as({ user: "admin", passphrase: "bench-admin-pass" });
    await admin.addUser({ userId: "op", realName: "bench", role: "Operator", passphrase: "bench-operator-pass" });
    await admin.generateKey({ id: "ed", type: "Curve25519", mechanisms: ["EdDSA_Signature"] });
    await admin.generateKey({ id: "p256", type: "EC_P256", mechanisms: ["ECDSA_Signature"] });
    await admin.generateKey({ id: "rsa", type: "RSA", mechanisms: ["RSA_Signature_PKCS1"], length: 2048 });
    anon.close();
    console.log(`stand-in ${url} (separate process), ${N} signatures per row after ${WARMUP} warm-up; latency in ms`);
    const digest = randomBytes(64);
    for (const keyId of ["ed", "p256", "rsa"]) {
      for (const keepAlive of [true, false]) {
        const key = await openNetHsmSigningKey({ connections: [conn], user: "op", passphrase: "bench-operator-pass", keyId, keepAlive });
        try {
          for (let i = 0; i < WARMUP; i++) await key.signDigest(digest);
          const t: number[] = [];
          for (let i = 0; i < N; i++) {
            const t0 = performance.now();
            await key.signDigest(digest);
            t.push(performance.now() - t0);
          }
          console.log(`  sign ${keyId.padEnd(4)} ${keepAlive ? "keep-alive     " : "new connection "} ${stats(t)}`);
        } finally {
          await key.close();
        }
      }
    }
    const t: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      const key = await openNetHsmSigningKey({ connections: [conn], user: "op", passphrase: "bench-operator-pass", keyId: "ed" });
      await key.certificate();
      await key.signDigest(digest);
      await key.close();
      t.push(performance.now() - t0);
    }
    console.log(`  open+cert+sign+close (ed, one TLS connection per invocation) ${stats(t)}`);
  } finally {
    child.kill("SIGTERM");
  }
}
