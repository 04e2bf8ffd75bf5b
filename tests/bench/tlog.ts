/**
 * The signing log's append throughput on this machine's disk (`npm run bench tlog`): entries per second with
 * batching (group commit: all entries ready share the fsyncs and one checkpoint) and without (one batch, so one
 * round of fsyncs and one checkpoint, per entry), each with 64 appends in flight, and the mean time from commit to
 * durable. The log directory is under the temp dir and removed afterwards.
 *
 * The same batched appends with the log key on the NetHSM stand-in (tests/support/nethsm-standin, HTTPS on loopback):
 * every checkpoint is one `POST /keys/{id}/sign` (mode EdDSA) through the writer's BackendNoteSigner, the path a
 * host with `signing_log.nethsm_key` takes; printed as a ratio against the key file in the same run.
 *
 * Then (as root: real users, sshd, SoftHSM) the signing throughput over SSH with and without the signing log, 16
 * concurrent clients, on two otherwise equal signing hosts; the goal is a cost of at most 10 %.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetHsmClient, netHsmGenerateArgs, openNetHsmSigningKey } from "../../lib/backends/nethsm/index.js";
import { LOG_KEY_SETUP, type NetHsmConnection } from "../../lib/config/model.js";
import { httpsUrl } from "../../lib/config/primitives.js";
import { BackendNoteSigner } from "../../lib/tools/log-writer.js";
import { ed25519NoteSigner, type NoteSigner } from "../../lib/tlog/note.js";
import { startStandIn } from "../support/nethsm-standin/index.js";
import { LogWriter } from "../../lib/tlog/writer.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { startSigningHost } from "../support/signing-host.js";
import { runSsh } from "../support/sshd.js";
import { testEntry } from "../tlog/entries.js";

const CONCURRENCY = 16;
const PER_CLIENT = 8;

/** Signatures per second over SSH, CONCURRENCY clients × PER_CLIENT requests, on a fresh host. */
async function signingRate(work: string, signingLog: boolean): Promise<number> {
  const host = await startSigningHost({ signers: ["ed25519"], signingLog });
  try {
    const signer = host.signers[0]!;
    const file = join(work, `payload-${signingLog}`);
    await writeFile(file, randomBytes(4096));
    const request = createSigningRequest(await hashFile(file));
    const sign = async (): Promise<void> => {
      const r = await runSsh({ sshd: host.sshd, user: signer.user, identity: signer.sshKey.privateKeyFile, input: request });
      if (r.code !== 0) throw new Error(`signing failed: ${r.stderr.trim()}`);
    };
    await sign();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let i = 0; i < PER_CLIENT; i++) await sign();
    }));
    return (CONCURRENCY * PER_CLIENT) / ((performance.now() - t0) / 1000);
  } finally {
    await host.stop();
  }
}

const IN_FLIGHT = 64;

const ORIGIN = "signstar.bench/tlog";

/** The log key on a provisioned NetHSM stand-in, as the writer opens it (an Operator whose tag is the key's). */
async function withNetHsmLogKey<T>(use: (signer: NoteSigner) => Promise<T>): Promise<T> {
  const standIn = await startStandIn({ rateLimitMs: 0 });
  const connections: NetHsmConnection[] = [{ url: httpsUrl(standIn.url), tlsSecurity: { kind: "Fingerprints", sha256: [standIn.tls.fingerprint] } }];
  const admin = new NetHsmClient({ connections, credentials: { user: "admin", passphrase: "bench-admin-passphrase" } });
  try {
    await admin.provision({ unlockPassphrase: "bench-unlock-passphrase", adminPassphrase: "bench-admin-passphrase", systemTime: new Date() });
    await admin.generateKey({ ...netHsmGenerateArgs(LOG_KEY_SETUP), id: "benchlog", tags: ["benchlog"] });
    await admin.addUser({ realName: "bench log writer", role: "Operator", passphrase: "bench-operator-passphrase", userId: "benchwriter" });
    await admin.addUserTag("benchwriter", "benchlog");
  } finally {
    admin.close();
  }
  const signer = await BackendNoteSigner.open(ORIGIN, () => openNetHsmSigningKey({ connections, user: "benchwriter", passphrase: "bench-operator-passphrase", keyId: "benchlog" }));
  try {
    return await use(signer);
  } finally {
    await signer.close();
    await standIn.close();
  }
}

async function measure(
  dir: string,
  entries: number,
  batched: boolean,
  signer: NoteSigner = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(1)),
): Promise<{ perSecond: number; latencyMs: number; batches: number }> {
  const w = await LogWriter.open({ dir, signer, ...(batched ? { batchWindowMs: 1, maxBatch: 1024 } : { batchWindowMs: 0, maxBatch: 1 }) });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < entries) {
        next++;
        const { index } = w.reserve("bench");
        await w.commit(index, testEntry(index, "bench"));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const s = w.stats();
  await w.close();
  return { perSecond: entries / seconds, latencyMs: s.appendLatencySumMs / s.appendedEntries, batches: s.batches };
}

export async function run(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "signstar-bench-tlog-"));
  try {
    console.log(`log directory under ${work}, ${IN_FLIGHT} appends in flight`);
    const line = (name: string, entries: number, r: { perSecond: number; latencyMs: number; batches: number }): string =>
      `${name.padEnd(10)} ${entries} entries: ${r.perSecond.toFixed(0).padStart(6)} entries/s, ${r.batches} checkpoints, mean commit-to-durable ${r.latencyMs.toFixed(1)} ms`;
    let keyFile = 0;
    for (const [name, entries, batched] of [["batched", 5000, true], ["unbatched", 400, false]] as const) {
      const r = await measure(join(work, name), entries, batched);
      if (batched) keyFile = r.perSecond;
      console.log(line(name, entries, r));
    }
    const onNetHsm = await withNetHsmLogKey((signer) => measure(join(work, "nethsm"), 5000, true, signer));
    console.log(`${line("NetHSM key", 5000, onNetHsm)} (stand-in, HTTPS on loopback)`);
    console.log(`batched entries/s, log key on the NetHSM / key file: ${(onNetHsm.perSecond / keyFile).toFixed(3)}`);
    if (process.geteuid?.() !== 0) {
      console.log("signing with and without the log: skipped, needs root (real Unix users and sshd)");
      return;
    }
    const without = await signingRate(work, false);
    const withLog = await signingRate(work, true);
    console.log(`signing over SSH, ${CONCURRENCY} clients × ${PER_CLIENT}: without the log ${without.toFixed(1)}/s, with the log ${withLog.toFixed(1)}/s`);
    console.log(`throughput ratio with / without the log: ${(withLog / without).toFixed(3)} (goal ≥ 0.90)`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
