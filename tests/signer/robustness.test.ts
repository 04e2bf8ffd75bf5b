/**
 * The resident signer under backend trouble, through real sshd with the C forwarder as ForceCommand:
 *
 * - a hung PKCS#11 module: the production path p11-kit-client.so -> p11-kit server (SoftHSM behind it), the server
 *   stopped with SIGSTOP, so the signer's next PKCS#11 call never returns. The watchdog ends the signer after the
 *   call's deadline; the request in flight gets one line and exit code 9 ("try again"); another user's signer
 *   signs meanwhile; once the server runs again a new signer (what socket activation starts) signs;
 * - a PKCS#11 backend that restarts: the p11-kit server killed and started again (SoftHSM's token opened anew by
 *   it) between two requests: the same signer answers the next request (it re-opens its key), nothing fails;
 * - a NetHSM that restarts: the stand-in closed (its connections gone) and started again with the same state on
 *   the same address between two requests: the same signer answers the next request;
 * - idle exit: a signer with a 2 s idle time does not stop while a request is in progress, exits with 0 once idle,
 *   removes its socket, and the next request is answered by the fallback.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { parseSigningResponse } from "../../lib/signing/response.js";
import { startStandIn, type StandIn } from "../support/nethsm-standin/index.js";
import { P11_KIT_CLIENT_MODULE, startP11KitServer, type P11KitServer } from "../support/p11kit.js";
import { removeSignerDirs, startResident, useForwarder, type Resident } from "../support/resident.js";
import { run } from "../support/run.js";
import { startSigningHost, type HostSigner, type SigningHost } from "../support/signing-host.js";
import { runSsh } from "../support/sshd.js";

const LOST = "signstar-download-signature: the resident signer stopped before answering; try again\n";

let host: SigningHost;
let work: string;
let p11kitDir: string;
let p11kit: P11KitServer | undefined;
let restartedStandIn: StandIn | undefined;
const residents = new Map<string, Resident>();

async function startP11Kit(): Promise<P11KitServer> {
  const server = await startP11KitServer({
    provider: host.softhsm.module,
    tokenUri: "pkcs11:token=signstar",
    env: { SOFTHSM2_CONF: host.softhsm.confPath },
    socketPath: join(p11kitDir, "pkcs11"),
  });
  // The test's server runs as root; the signing user reaches its socket as it would the host's p11-kit socket.
  await chmod(server.socketPath, 0o666);
  return server;
}

beforeAll(async () => {
  // p11-kit 0.24 does not forward EdDSA: the PKCS#11 signer has an ECDSA key.
  host = await startSigningHost({ signers: ["p256"], nethsmSigners: ["p256"], pkcs11Module: P11_KIT_CLIENT_MODULE });
  await useForwarder(host);
  work = await mkdtemp(join(tmpdir(), "signstar-robust-"));
  p11kitDir = join(host.dir, "p11kit");
  await mkdir(p11kitDir, { mode: 0o755 });
  p11kit = await startP11Kit();
}, 180_000);

afterAll(async () => {
  for (const r of residents.values()) await r.stop();
  await p11kit?.stop();
  await restartedStandIn?.close();
  if (host) await removeSignerDirs(host, host.signers.map((s) => s.user));
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const pkcs11 = (): HostSigner => host.signers.find((s) => s.backend === "pkcs11")!;
const nethsm = (): HostSigner => host.signers.find((s) => s.backend === "nethsm")!;

async function resident(s: HostSigner, env: Record<string, string> = {}): Promise<Resident> {
  let r = residents.get(s.user);
  if (!r || r.child.exitCode !== null || r.child.signalCode !== null) {
    r = await startResident(host, s.user, { ...(s.backend === "pkcs11" ? { P11_KIT_SERVER_ADDRESS: p11kit!.address } : {}), ...env });
    residents.set(s.user, r);
  }
  return r;
}

async function payload(): Promise<{ file: string; request: string }> {
  const file = join(work, `p-${randomBytes(4).toString("hex")}.bin`);
  await writeFile(file, randomBytes(4096));
  return { file, request: createSigningRequest(await hashFile(file), { "file-name": "payload" }) };
}

const sign = (s: HostSigner, input: string) => runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input, timeoutMs: 60_000 });

/** Signs a new file as `s` and checks the signature with sq. */
async function signsAndVerifies(s: HostSigner): Promise<void> {
  const { file, request } = await payload();
  const r = await sign(s, request);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const sig = `${file}.asc`;
  await writeFile(sig, `${parseSigningResponse(r.stdout).signature}\n`);
  expect((await run("sq", ["verify", "--signer-cert", s.certificateFile, "--detached", sig, file])).code).toBe(0);
}

const exited = (r: Resident): Promise<void> =>
  r.child.exitCode !== null || r.child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => r.child.once("exit", () => resolve()));

/** `pid` and every process below it (the p11-kit server forks one child per client connection). */
function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parents.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* gone */
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** kill(2), where a process that is gone already is no failure. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

describe("a hung PKCS#11 module (the p11-kit server stopped)", () => {
  it("the watchdog ends the signer: the request gets one line and exit code 9, another user's signer signs meanwhile, a new signer signs again", async () => {
    const pk = pkcs11();
    const r = await resident(pk);
    await resident(nethsm());
    await signsAndVerifies(pk); // the key is open, its p11-kit connection established
    const stopped = processTree(p11kit!.pid);
    for (const pid of stopped) signal(pid, "SIGSTOP");
    try {
      const { request } = await payload();
      const hung = sign(pk, request);
      // Meanwhile another signing user's resident signer is not held up.
      await signsAndVerifies(nethsm());
      const answer = await hung;
      expect(answer).toMatchObject({ code: ExitCode.Busy, stdout: "", stderr: LOST });
      await exited(r);
      expect(r.child.signalCode).toBe("SIGKILL");
      expect(r.stderr()).toMatch(/^PKCS#11 \S+ did not return within 10000 ms \([^\n]*\); stopping$/m);
    } finally {
      for (const pid of stopped) signal(pid, "SIGCONT");
    }
    // What socket activation does on the next connection: a new signer, which signs.
    await resident(pk);
    await signsAndVerifies(pk);
  }, 180_000);
});

describe("a backend that restarts between requests", () => {
  it("PKCS#11: the p11-kit server (and with it SoftHSM's token) killed and started again: the same signer answers", async () => {
    const pk = pkcs11();
    const r = await resident(pk);
    await signsAndVerifies(pk);
    // The whole server goes: the listener and the child serving this signer's connection (with its SoftHSM session).
    const tree = processTree(p11kit!.pid);
    await p11kit!.stop();
    for (const pid of tree) signal(pid, "SIGKILL");
    p11kit = await startP11Kit();
    await signsAndVerifies(pk);
    await signsAndVerifies(pk);
    expect(r.child.exitCode).toBeNull();
    expect(r.child.signalCode).toBeNull();
  }, 120_000);

  it("NetHSM: the stand-in closed and started again with the same state and address: the same signer answers", async () => {
    const nh = nethsm();
    const r = await resident(nh);
    await signsAndVerifies(nh);
    const old = host.standIn!;
    await old.close();
    restartedStandIn = await startStandIn({ port: old.port, tls: old.tls, device: old.device, rateLimitMs: 1000 });
    await signsAndVerifies(nh);
    await signsAndVerifies(nh);
    expect(restartedStandIn.connections()).toBeGreaterThan(0);
    expect(r.child.exitCode).toBeNull();
    expect(r.child.signalCode).toBeNull();
  }, 120_000);
});

describe("idle exit", () => {
  it("not while a request is in progress; then exit 0, the socket removed, and the fallback answers", async () => {
    const nh = nethsm();
    await residents.get(nh.user)?.stop();
    residents.delete(nh.user);
    const { file, request } = await payload();
    const socket = hostLayout(host.env["SIGNSTAR_ROOT"]).signerSocket(nh.user);
    const r = await resident(nh, { SIGNSTAR_SIGNER_IDLE_SECONDS: "2" });
    // A connection of the user's own (the signer answers only its user) keeps the signer from going idle until the
    // forwarder is connected: an SSH login slower than the idle time (a loaded machine) would otherwise find no
    // signer and take the fallback. It ends when its stdin does.
    const keeper = spawn("setpriv", ["--reuid", nh.user, "--regid", nh.user, "--init-groups", "--", process.execPath, "-e",
      'const s = require("node:net").connect(process.argv[1]); s.resume(); s.on("close", () => process.exit(0)); process.stdin.on("end", () => s.end()).resume();',
      socket], { stdio: ["pipe", "ignore", "ignore"] });
    const keeperExit = new Promise((resolve) => keeper.on("exit", resolve));
    const connections = async (): Promise<number> =>
      (await run("ss", ["-xH", "state", "connected", "src", socket])).stdout.split("\n").filter((l) => l.includes(socket)).length;
    for (let i = 0; (await connections()) < 1; i++) {
      if (i > 1000) throw new Error("the test's own connection never arrived");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // A request held open for longer than the idle time is still answered.
    const ssh = spawn("ssh", [
      "-F", "/dev/null", "-p", String(host.sshd.port), "-i", nh.sshKey.privateKeyFile, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
      "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${host.sshd.knownHosts}`, "-o", "LogLevel=ERROR",
      `${nh.user}@${host.sshd.host}`,
    ], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    ssh.stdout.on("data", (c: Buffer) => (out += c.toString()));
    ssh.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const closed = new Promise<number | null>((resolve) => ssh.on("close", (code) => resolve(code)));
    ssh.stdin.write(request.slice(0, 40));
    for (let i = 0; (await connections()) < 2; i++) {
      if (i > 3000) throw new Error("the forwarder never connected");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    keeper.stdin.end();
    await keeperExit;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(r.child.exitCode).toBeNull();
    ssh.stdin.end(request.slice(40));
    expect(await closed).toBe(0);
    expect(err).toBe("");
    const sig = `${file}.asc`;
    await writeFile(sig, `${parseSigningResponse(out).signature}\n`);
    expect((await run("sq", ["verify", "--signer-cert", nh.certificateFile, "--detached", sig, file])).code).toBe(0);
    // Then idle: it exits by itself, cleanly, and takes its socket with it.
    await exited(r);
    expect(r.child.exitCode).toBe(0);
    expect(r.stderr()).toBe("");
    expect(await lstat(socket).then(() => true, () => false)).toBe(false);
    // No signer: the forwarder's fallback (it takes a run slot) answers.
    await signsAndVerifies(nh);
    expect(readdirSync(hostLayout(host.env["SIGNSTAR_ROOT"]).signerDir(nh.user))).toContain("run.0");
  }, 120_000);
});
