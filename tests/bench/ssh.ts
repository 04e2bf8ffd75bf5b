/**
 * Signing over SSH against the same sshd running ForceCommand /bin/true (needs root: real users and sshd).
 * The signers' ForceCommand is the C forwarder (as installed); three ways of answering it:
 *   resident  signstar-signer running as the user, key on SoftHSM (PKCS#11)
 *   fallback  no resident signer: the forwarder runs the Node implementation per request (today's tool)
 *   nethsm    signstar-signer with the key on the NetHSM stand-in
 * For each, medians:
 *   latency ratio     one signature (OpenSSH `ssh` piping a request) vs one `ssh … /bin/true`      goal ≤ 1.10
 *   throughput ratio  signatures/s with 16 concurrent `ssh` clients vs /bin/true/s the same way   goal ≥ 0.90
 *   bulk ratio        1,000 files of 4 KiB in one `signstar-request-signature send` call, signatures/s
 *                     divided by the rate of one `ssh … /bin/true` per file (1 / its median latency) goal ≥ 10
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { run as runProcess } from "../support/run.js";
import { runSsh } from "../support/sshd.js";
import { startResident, useForwarder, type Resident } from "../support/resident.js";
import { startSigningHost, type HostSigner } from "../support/signing-host.js";
import { REPO_ROOT } from "../support/repo.js";

const SEQUENTIAL = 30;
const CONCURRENCY = 16;
const PER_CLIENT = 6;
const ROUNDS = 3;
const BULK_FILES = 1000;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`;

interface Caller {
  readonly user: string;
  readonly identity: string;
}

export async function run(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    console.log("skipped: needs root (real Unix users and sshd)");
    return;
  }
  const host = await startSigningHost({ signers: ["ed25519"], nethsmSigners: ["ed25519"], baseline: true });
  await useForwarder(host);
  const work = await mkdtemp(join(tmpdir(), "signstar-bench-ssh-"));
  const residents: Resident[] = [];
  try {
    const pkcs11 = host.signers.find((s) => s.backend === "pkcs11")!;
    const nethsm = host.signers.find((s) => s.backend === "nethsm")!;
    const baseline: Caller = { user: host.baseline!.user, identity: host.baseline!.sshKey.privateKeyFile };
    const file = join(work, "payload");
    await writeFile(file, randomBytes(4096));
    const request = createSigningRequest(await hashFile(file));
    const bulkDir = join(work, "bulk");
    await mkdir(bulkDir);
    const bulk: string[] = [];
    for (let i = 0; i < BULK_FILES; i++) {
      const f = join(bulkDir, `f${i}`);
      await writeFile(f, randomBytes(4096));
      bulk.push(f);
    }

    const call = async (who: Caller): Promise<number> => {
      const t0 = performance.now();
      const r = await runSsh({ sshd: host.sshd, user: who.user, identity: who.identity, input: request });
      if (r.code !== 0) throw new Error(`${who.user}: exit ${r.code}: ${r.stderr.trim()}`);
      return performance.now() - t0;
    };
    const throughput = async (who: Caller): Promise<number> => {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        for (let i = 0; i < PER_CLIENT; i++) await call(who);
      }));
      return (CONCURRENCY * PER_CLIENT) / ((performance.now() - t0) / 1000);
    };
    const bulkRate = async (s: HostSigner): Promise<number> => {
      const t0 = performance.now();
      const r = await runProcess(process.execPath, [
        resolve(REPO_ROOT, "dist/bin/signstar-request-signature.js"), "send", "--host", host.sshd.host, "--port", String(host.sshd.port),
        "--user", s.user, "--identity", s.sshKey.privateKeyFile, "--known-hosts", host.sshd.knownHosts, "--force", ...bulk,
      ], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 1_800_000 });
      if (r.code !== 0) throw new Error(`bulk send failed: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`);
      return BULK_FILES / ((performance.now() - t0) / 1000);
    };

    const modes: { name: string; signer: HostSigner; resident: boolean }[] = [
      { name: "resident (PKCS#11, SoftHSM)", signer: pkcs11, resident: true },
      { name: "fallback (in-process per request, PKCS#11)", signer: pkcs11, resident: false },
      { name: "resident (NetHSM stand-in)", signer: nethsm, resident: true },
    ];
    for (const mode of modes) {
      const r = mode.resident ? await startResident(host, mode.signer.user) : undefined;
      if (r) residents.push(r);
      try {
        const who: Caller = { user: mode.signer.user, identity: mode.signer.sshKey.privateKeyFile };
        await call(who);
        await call(baseline); // warm-up
        const signTimes: number[] = [];
        const trueTimes: number[] = [];
        for (let i = 0; i < SEQUENTIAL; i++) {
          trueTimes.push(await call(baseline));
          signTimes.push(await call(who));
        }
        const latency = median(signTimes) / median(trueTimes);
        const ratios: number[] = [];
        let lastSign = 0;
        let lastTrue = 0;
        for (let i = 0; i < ROUNDS; i++) {
          lastTrue = await throughput(baseline);
          lastSign = await throughput(who);
          ratios.push(lastSign / lastTrue);
        }
        const bulkRates: number[] = [];
        for (let i = 0; i < (mode.resident ? ROUNDS : 1); i++) bulkRates.push(await bulkRate(mode.signer));
        const perFileTrue = 1000 / median(trueTimes);
        console.log(`-- ${mode.name}`);
        console.log(`sequential, ${SEQUENTIAL} each, median: signature ${ms(median(signTimes))}, ssh /bin/true ${ms(median(trueTimes))}`);
        console.log(`latency ratio signature / true: ${latency.toFixed(3)} (goal ≤ 1.10)`);
        console.log(`${CONCURRENCY} concurrent clients × ${PER_CLIENT}, last round: signatures ${lastSign.toFixed(1)}/s, /bin/true ${lastTrue.toFixed(1)}/s`);
        console.log(`throughput ratio signature / true: ${median(ratios).toFixed(3)} (median of ${ROUNDS} rounds; goal ≥ 0.90)`);
        console.log(`bulk: ${BULK_FILES} × 4 KiB in one send: ${median(bulkRates).toFixed(1)} signatures/s (median of ${bulkRates.length}); one ssh /bin/true per file: ${perFileTrue.toFixed(1)}/s`);
        console.log(`bulk ratio: ${(median(bulkRates) / perFileTrue).toFixed(2)} (goal ≥ 10)`);
      } finally {
        await r?.stop();
      }
    }
  } finally {
    for (const r of residents) await r.stop();
    await host.stop();
    await rm(work, { recursive: true, force: true });
  }
}
