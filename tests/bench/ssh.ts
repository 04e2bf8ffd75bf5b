/**
 * Signing over SSH against the same sshd running ForceCommand /bin/true (needs root: real users and sshd):
 * - median latency of one signature (OpenSSH `ssh` piping a request) vs `ssh … /bin/true`; goal ratio ≤ 1.20
 * - signatures per second with 16 concurrent clients vs the same for /bin/true; goal ratio ≥ 0.85
 * Also: start-up of the signing executable alone on a malformed request (hyperfine-free, median of runs).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { runSsh } from "../support/sshd.js";
import { startSigningHost } from "../support/signing-host.js";

const SEQUENTIAL = 30;
const CONCURRENCY = 16;
const PER_CLIENT = 6;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function run(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    console.log("skipped: needs root (real Unix users and sshd)");
    return;
  }
  const host = await startSigningHost({ signers: ["ed25519"], baseline: true });
  const work = await mkdtemp(join(tmpdir(), "signstar-bench-ssh-"));
  try {
    const signer = host.signers[0]!;
    const baseline = host.baseline!;
    const file = join(work, "payload");
    await writeFile(file, randomBytes(4096));
    const request = createSigningRequest(await hashFile(file));
    const sign = async (): Promise<number> => {
      const t0 = performance.now();
      const r = await runSsh({ sshd: host.sshd, user: signer.user, identity: signer.sshKey.privateKeyFile, input: request });
      if (r.code !== 0) throw new Error(`signing failed: ${r.stderr.trim()}`);
      return performance.now() - t0;
    };
    const trueCall = async (): Promise<number> => {
      const t0 = performance.now();
      const r = await runSsh({ sshd: host.sshd, user: baseline.user, identity: baseline.sshKey.privateKeyFile, input: request });
      if (r.code !== 0) throw new Error(`/bin/true failed: ${r.stderr.trim()}`);
      return performance.now() - t0;
    };
    await sign();
    await trueCall(); // warm-up
    const signTimes: number[] = [];
    const trueTimes: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      trueTimes.push(await trueCall());
      signTimes.push(await sign());
    }
    const ms = (x: number): string => `${x.toFixed(1)} ms`;
    console.log(`sequential, ${SEQUENTIAL} each, median: signature ${ms(median(signTimes))}, ssh /bin/true ${ms(median(trueTimes))}`);
    console.log(`latency ratio signature / true: ${(median(signTimes) / median(trueTimes)).toFixed(3)} (goal ≤ 1.20)`);

    const throughput = async (call: () => Promise<number>): Promise<number> => {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        for (let i = 0; i < PER_CLIENT; i++) await call();
      }));
      return (CONCURRENCY * PER_CLIENT) / ((performance.now() - t0) / 1000);
    };
    const trueRate = await throughput(trueCall);
    const signRate = await throughput(sign);
    console.log(`${CONCURRENCY} concurrent clients × ${PER_CLIENT}: signatures ${signRate.toFixed(1)}/s, /bin/true ${trueRate.toFixed(1)}/s`);
    console.log(`throughput ratio signature / true: ${(signRate / trueRate).toFixed(3)} (goal ≥ 0.85)`);

    // The executable alone (no ssh): node start-up + imports on the refusal path, run as the signer.
    const startup: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        const child = spawn("setpriv", ["--reuid", signer.user, "--regid", signer.user, "--init-groups", join(host.binDir, "signstar-download-signature")], {
          env: { ...host.env, PATH: "/usr/bin:/bin" }, stdio: ["pipe", "ignore", "ignore"],
        });
        child.on("close", () => resolve());
        child.stdin.end(request);
      });
      startup.push(performance.now() - t0);
    }
    console.log(`signstar-download-signature run directly (full signature, no ssh), median of 15: ${ms(median(startup))}`);
  } finally {
    await host.stop();
    await rm(work, { recursive: true, force: true });
  }
}
