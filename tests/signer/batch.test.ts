/**
 * Many files over one SSH connection (`signstar-request-signature send FILE…`, the compiled client) against a
 * real sshd whose signing users' ForceCommand is the forwarder and whose drop-ins come from configure-build
 * (MaxSessions 16): per-file errors and the summary line, --fail-fast, and 16 clients × 100 files with a resident
 * signer: nothing lost, every signature verifies (openpgp.js for all, sq for a sample), the counters add up.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as openpgp from "openpgp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { readSignatureCounters } from "../../lib/metrics/signature-counters.js";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";
import { startResident, useForwarder, type Resident } from "../support/resident.js";
import { run } from "../support/run.js";
import { startSigningHost, type HostSigner, type SigningHost } from "../support/signing-host.js";

const CLIENT = resolve(import.meta.dirname, "../../dist/bin/signstar-request-signature.js");

let host: SigningHost;
let work: string;
let signer: HostSigner;
let resident: Resident;
let certificate: openpgp.Key;

beforeAll(async () => {
  host = await startSigningHost({ signers: ["ed25519"] });
  await useForwarder(host);
  signer = host.signers[0]!;
  // Room for 16 clients × 4 requests in flight (the defaults, 4 + 16, would refuse some: the batch client then
  // tries those again, which the limits test below shows).
  resident = await startResident(host, signer.user, { SIGNSTAR_SIGNER_CONCURRENT: "4", SIGNSTAR_SIGNER_QUEUED: "64" });
  work = await mkdtemp(join(tmpdir(), "signstar-batch-"));
  certificate = await openpgp.readKey({ binaryKey: signer.certificate });
}, 120_000);

afterAll(async () => {
  await resident?.stop();
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function files(dir: string, n: number, size = 4096): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = join(dir, `f${i}.bin`);
    await writeFile(f, randomBytes(size));
    out.push(f);
  }
  return out;
}

function send(args: string[]) {
  return run(process.execPath, [
    CLIENT, "send", "--host", host.sshd.host, "--port", String(host.sshd.port), "--user", signer.user,
    "--identity", signer.sshKey.privateKeyFile, "--known-hosts", host.sshd.knownHosts, ...args,
  ], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 300_000 });
}

async function verifies(file: string): Promise<boolean> {
  const signature = await openpgp.readSignature({ binarySignature: await readFile(`${file}.sig`) });
  const message = await openpgp.createMessage({ binary: await readFile(file) });
  const { signatures } = await openpgp.verify({ message, signature, verificationKeys: certificate });
  return signatures[0]!.verified.then(() => true, () => false);
}

describe("send FILE… over one connection", () => {
  it("signs every file it can, reports each failure in one line, prints a summary and exits with the first failure's code", async () => {
    const good = await files(join(work, "mixed"), 4);
    const missing = join(work, "mixed", "missing.bin");
    const r = await send([good[0]!, missing, ...good.slice(1)]);
    expect(r.code).not.toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual(good.map((f) => `${f}.sig`).sort());
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^signstar-request-signature: ${missing}: `));
    expect(lines[1]).toBe("signstar-request-signature: signed 4 of 5 files, 1 failed");
    for (const f of good) expect(await verifies(f)).toBe(true);
  });

  it("--fail-fast starts no file after the first failure", async () => {
    const good = await files(join(work, "ff"), 3);
    const missing = join(work, "ff", "missing.bin");
    const r = await send(["--parallel", "1", "--fail-fast", missing, ...good]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n").at(-1)).toBe("signstar-request-signature: signed 0 of 4 files, 1 failed, 3 not tried (--fail-fast)");
    for (const f of good) await expect(stat(`${f}.sig`)).rejects.toThrow(/ENOENT/);
  });

  it("refuses --output with several files, before connecting", async () => {
    const two = await files(join(work, "out"), 2);
    const r = await send(["--output", join(work, "x.sig"), ...two]);
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("16 clients × 100 files with a resident signer: all signed, every signature verifies, every one counted", async () => {
    const secret = secretFilePath({ systemUser: signer.user, backendUser: "pkcs11-token-label-signstar", handling: "plaintext" });
    const uid = (await stat(secret)).uid;
    const counted = async (): Promise<number> =>
      Object.values(await readSignatureCounters(host.countersDir, signer.user, uid)).reduce((n, c) => n + (c?.ok ?? 0), 0);
    const before = await counted();
    const batches = await Promise.all(Array.from({ length: 16 }, (_, i) => files(join(work, `load${i}`), 100)));
    const results = await Promise.all(batches.map((b) => send(["--parallel", "4", ...b])));
    for (const r of results) if (r.code !== 0) console.error(r.stderr.split("\n").filter((l) => !l.includes("busy")).slice(0, 3).join("\n"));
    for (const r of results) {
      expect(r.stderr).toBe("signstar-request-signature: signed 100 of 100 files\n");
      expect(r.code).toBe(0);
    }
    const all = batches.flat();
    for (const f of all) expect(await verifies(f), f).toBe(true);
    // sq, an independent implementation, on a sample.
    for (const f of all.filter((_, i) => i % 200 === 0)) {
      expect((await run("sq", ["verify", "--signer-cert", signer.certificateFile, "--detached", `${f}.sig`, f])).code).toBe(0);
    }
    expect(await counted()).toBe(before + 1600);
    expect(resident.child.exitCode).toBeNull();
  }, 600_000);
});
