/**
 * The resident signer end to end, through real sshd and OpenSSH `ssh`: the ForceCommand is the C forwarder,
 * signstar-signer runs as each signing user (as on a host without systemd), for both backends (SoftHSM and the
 * NetHSM stand-in). The same requests succeed and fail the same way resident and in-process (fallback); a killed
 * signer costs one request one line and "try again", and the next request works.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { readSignatureCounters } from "../../lib/metrics/signature-counters.js";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { parseSigningResponse } from "../../lib/signing/response.js";
import { startResident, useForwarder, type Resident } from "../support/resident.js";
import { run } from "../support/run.js";
import { startSigningHost, type HostSigner, type SigningHost } from "../support/signing-host.js";
import { runSsh } from "../support/sshd.js";

let host: SigningHost;
let work: string;
const residents = new Map<string, Resident>();

beforeAll(async () => {
  host = await startSigningHost({ signers: ["ed25519"], nethsmSigners: ["p256"] });
  await useForwarder(host);
  work = await mkdtemp(join(tmpdir(), "signstar-resident-"));
}, 120_000);

afterAll(async () => {
  for (const r of residents.values()) await r.stop();
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function resident(s: HostSigner): Promise<Resident> {
  let r = residents.get(s.user);
  if (!r || r.child.exitCode !== null || r.child.signalCode !== null) {
    r = await startResident(host, s.user);
    residents.set(s.user, r);
  }
  return r;
}

async function stopResident(s: HostSigner): Promise<void> {
  await residents.get(s.user)?.stop();
  residents.delete(s.user);
}

/** The forwarder's fallback takes a flock slot file (run.N) in the user's signer directory; the resident path none. */
async function clearSlots(s: HostSigner): Promise<void> {
  const dir = hostLayout(host.env["SIGNSTAR_ROOT"]).signerDir(s.user);
  for (const f of await readdir(dir)) if (/^(run|queue)\.[0-9]+$/.test(f)) await rm(join(dir, f));
}
async function slots(s: HostSigner): Promise<string[]> {
  return (await readdir(hostLayout(host.env["SIGNSTAR_ROOT"]).signerDir(s.user))).filter((f) => /^(run|queue)\./.test(f));
}

async function payload(name: string): Promise<{ file: string; request: string }> {
  const file = join(work, name);
  await writeFile(file, randomBytes(5000));
  return { file, request: createSigningRequest(await hashFile(file), { "file-name": name }) };
}

const sign = (s: HostSigner, input: string) => runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input });

async function verifies(s: HostSigner, file: string, armored: string): Promise<boolean> {
  const sig = `${file}.${randomBytes(4).toString("hex")}.asc`;
  await writeFile(sig, `${armored}\n`);
  return (await run("sq", ["verify", "--signer-cert", s.certificateFile, "--detached", sig, file])).code === 0;
}

for (const backend of ["pkcs11", "nethsm"] as const) {
  describe(`${backend}: resident and fallback answer alike`, () => {
    const signer = (): HostSigner => host.signers.find((x) => x.backend === backend)!;

    for (const mode of ["resident", "fallback"] as const) {
      it(`${mode}: signs a file (sq verifies), writes the audit entry and counts it`, async () => {
        const s = signer();
        if (mode === "resident") await resident(s);
        else await stopResident(s);
        const { file, request } = await payload(`${backend}-${mode}.bin`);
        const digest = Buffer.from((await hashFile(file)).digest()).toString("hex");
        const secret = secretFilePath({ systemUser: s.user, backendUser: backend === "pkcs11" ? "pkcs11-token-label-signstar" : `op${s.kind}`, handling: "plaintext" });
        const uid = (await stat(secret)).uid;
        const counted = async (): Promise<number> => {
          const all = await readSignatureCounters(host.countersDir, s.user, uid);
          return Object.values(all).reduce((n, c) => n + (c?.ok ?? 0), 0);
        };
        const before = await counted();
        await clearSlots(s);
        const r = await sign(s, request);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(await slots(s)).toEqual(mode === "resident" ? [] : ["run.0"]);
        expect(await verifies(s, file, parseSigningResponse(r.stdout).signature)).toBe(true);
        const entry = await host.syslog.waitFor(new RegExp(digest));
        expect(entry).toContain(`user="${s.user}"`);
        expect(entry).toContain('outcome="ok"');
        expect(entry).toContain("signstar-download-signature");
        expect(await counted()).toBe(before + 1);
      });

      it(`${mode}: a malformed request is one line and exit code 3, nothing on stdout`, async () => {
        const s = signer();
        if (mode === "resident") await resident(s);
        else await stopResident(s);
        const r = await sign(s, "{");
        expect(r.code).toBe(ExitCode.BadInput);
        expect(r.stdout).toBe("");
        expect(r.stderr).toMatch(/^signstar-download-signature: [^\n]+\n$/);
      });

      it(`${mode}: a secret file others can read is refused with exit code 6, and signing works again once fixed`, async () => {
        const s = signer();
        if (mode === "resident") await resident(s);
        else await stopResident(s);
        const { request } = await payload(`${backend}-${mode}-secret.bin`);
        expect((await sign(s, request)).code).toBe(0);
        const secret = secretFilePath({ systemUser: s.user, backendUser: backend === "pkcs11" ? "pkcs11-token-label-signstar" : `op${s.kind}`, handling: "plaintext" });
        await chmod(secret, 0o644);
        try {
          const refused = await sign(s, request);
          expect(refused.code).toBe(ExitCode.Secret);
          expect(refused.stdout).toBe("");
        } finally {
          await chmod(secret, 0o600);
        }
        expect((await sign(s, request)).code).toBe(0);
      });
    }
  });
}

describe("a resident signer that stops mid-request", () => {
  it("costs that request one line and exit code 9; the next request works (fallback, then a new signer)", async () => {
    const s = host.signers.find((x) => x.backend === "pkcs11")!;
    const r = await resident(s);
    const { request } = await payload("killed.bin");
    // Half a request: the signer has accepted the connection and waits for the rest.
    const ssh = spawn("ssh", [
      "-F", "/dev/null", "-p", String(host.sshd.port), "-i", s.sshKey.privateKeyFile, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
      "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${host.sshd.knownHosts}`, "-o", "LogLevel=ERROR",
      `${s.user}@${host.sshd.host}`,
    ], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    ssh.stdout.on("data", (c: Buffer) => (out += c.toString()));
    ssh.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => ssh.on("close", (code) => resolve(code)));
    // The forwarder answers as soon as its signer is gone, so ssh may have exited before the rest of the request
    // is written: that EPIPE is expected, the exit code and the one line below are what this test checks.
    ssh.stdin.on("error", () => undefined);
    ssh.stdin.write(request.slice(0, 40));
    const socket = hostLayout(host.env["SIGNSTAR_ROOT"]).signerSocket(s.user);
    // Wait until the forwarder is connected (ss lists the signer's accepted connection on its path).
    for (let i = 0; ; i++) {
      const ss = await run("ss", ["-xH", "state", "connected", "src", socket]);
      if (ss.stdout.includes(socket)) break;
      if (i > 500) throw new Error("the forwarder never connected");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    r.child.kill("SIGKILL");
    await new Promise((resolve) => r.child.once("exit", resolve));
    ssh.stdin.end(request.slice(40));
    expect(await exited).toBe(ExitCode.Busy);
    expect(out).toBe("");
    expect(err).toBe("signstar-download-signature: the resident signer stopped before answering; try again\n");
    // The socket file is left behind by the killed signer: the forwarder falls back to the in-process tool.
    const fallback = await sign(s, request);
    expect(fallback.code).toBe(0);
    // And a new signer (systemd would start it on the next connection) answers again.
    await resident(s);
    const again = await sign(s, request);
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
  });
});
