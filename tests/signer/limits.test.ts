/**
 * The configured signing limits are what refuses, over real sshd, for the resident signer and for the forwarder's
 * fallback. A host set up by the production commands (config with `signing_concurrency = 1` and
 * `signing_queue = 0` -> signstar-configure-build -> signstar-configure -> sshd -> client); the resident signer
 * gets the environment of the unit drop-in configure-build rendered (what systemd would pass it), the fallback
 * gets the limits from the user's sshd SetEnv line. With one request held in flight, a second one is refused at
 * once with one line and exit code 9; with the defaults (4 at once, 16 waiting) it would be answered.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { parseSigningResponse } from "../../lib/signing/response.js";
import { certificateOf, gpgVerify } from "../configure/helpers.js";
import { removeSignerDirs, startResident, useForwarder, type Resident } from "../support/resident.js";
import { run } from "../support/run.js";
import { startSharesHost, type SharesHost } from "../support/shares-host.js";

const BUSY = "signstar-download-signature: busy: too many signing requests of this user at once; try again later\n";

let host: SharesHost;
let work: string;
let resident: Resident | undefined;

beforeAll(async () => {
  host = await startSharesHost({ signers: [{ name: "alice", kind: "ed25519" }], system: ["signing_concurrency = 1", "signing_queue = 0"] });
  work = await mkdtemp(join(tmpdir(), "signstar-limits-"));
  await host.writeConfig({ iteration: 1, signers: ["alice"], admin: "plaintext" });
  const r = await host.configure();
  if (r.code !== 0) throw new Error(`configure failed: ${r.stderr}`);
  await useForwarder({ binDir: host.binDir, env: host.env, signers: host.signers.values() });
}, 180_000);

afterAll(async () => {
  await resident?.stop();
  if (host) await removeSignerDirs(host, [...host.signers.values()].map((s) => s.user));
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const alice = () => host.signers.get("alice")!;

async function request(): Promise<{ file: string; request: string }> {
  const file = join(work, `payload-${randomBytes(4).toString("hex")}.bin`);
  await writeFile(file, randomBytes(4096));
  return { file, request: createSigningRequest(await hashFile(file), { "file-name": "payload" }) };
}

/** An ssh session that has sent only the first bytes of its request; `finish` sends the rest. */
function held(partial: string) {
  const s = alice();
  const ssh = spawn("ssh", [
    "-F", "/dev/null", "-p", String(host.sshd.port), "-i", s.sshKey.privateKeyFile, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${host.sshd.knownHosts}`, "-o", "LogLevel=ERROR",
    `${s.user}@${host.sshd.host}`,
  ], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  ssh.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  ssh.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => ssh.on("close", (code) => resolve(code)));
  ssh.stdin.write(partial);
  return {
    finish: async (rest: string) => {
      ssh.stdin.end(rest);
      return { code: await exited, stdout, stderr };
    },
  };
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; !(await check()); i++) {
    if (i > 1000) throw new Error(`${what} never happened`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Whether some process holds a flock(2) write lock on `path`, read from /proc/locks (`FLOCK ADVISORY WRITE pid
 * MAJ:MIN:INODE`, proc(5)); looking does not take the lock, so it cannot disturb the forwarder's own attempt.
 */
async function exclusivelyLocked(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) return false;
  const major = (st.dev >> 8) & 0xfff;
  const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
  const id = `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}:${st.ino}`;
  const locks = await readFile("/proc/locks", "utf8");
  return locks.split("\n").some((line) => /\bFLOCK\s+ADVISORY\s+WRITE\b/.test(line) && line.split(/\s+/).includes(id));
}

async function signsAndVerifies(first: { file: string; request: string }, r: { code: number | null; stdout: string; stderr: string }): Promise<void> {
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const sig = `${first.file}.asc`;
  await writeFile(sig, `${parseSigningResponse(r.stdout).signature}\n`);
  expect(await gpgVerify(await certificateOf(host, "alice"), sig, first.file)).toBe(0);
}

describe("configured signing limits (signing_concurrency = 1, signing_queue = 0)", () => {
  it("configure-build rendered them into the signers' unit drop-in and alice's one sshd SetEnv line", async () => {
    const unit = await readFile(join(host.renderRoot, "etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf"), "utf8");
    expect(unit).toContain("Environment=SIGNSTAR_SIGNER_CONCURRENT=1\nEnvironment=SIGNSTAR_SIGNER_QUEUED=0\n");
    const dropIn = await readFile(join(host.renderRoot, `etc/ssh/sshd_config.d/10-signstar-user-${alice().user}.conf`), "utf8");
    expect(dropIn).toMatch(/^ {4}SetEnv LANG=C\.UTF-8 LC_ALL=C\.UTF-8 SIGNSTAR_SIGNER_CONCURRENT=1 SIGNSTAR_SIGNER_QUEUED=0\n/m);
  });

  it("resident: a second request while one is in flight is refused in one line with exit code 9; the first is answered", async () => {
    // The environment systemd would give the service: the Environment= lines of the rendered drop-in.
    const unit = await readFile(join(host.renderRoot, "etc/systemd/system/signstar-signer@.service.d/10-signstar-limits.conf"), "utf8");
    const env = Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(env)).toEqual(["SIGNSTAR_SIGNER_CONCURRENT", "SIGNSTAR_SIGNER_QUEUED"]);
    resident = await startResident({ binDir: host.binDir, env: host.env }, alice().user, env);
    const first = await request();
    const inFlight = held(first.request.slice(0, 40));
    const socket = hostLayout(host.env["SIGNSTAR_ROOT"]).signerSocket(alice().user);
    await until("the forwarder's connection", async () => (await run("ss", ["-xH", "state", "connected", "src", socket])).stdout.includes(socket));
    const second = await host.ssh(alice(), { input: (await request()).request });
    expect(second).toMatchObject({ code: ExitCode.Busy, stdout: "", stderr: BUSY });
    await signsAndVerifies(first, await inFlight.finish(first.request.slice(40)));
    // Within the limit again: answered.
    const third = await host.ssh(alice(), { input: (await request()).request });
    expect(third.stderr).toBe("");
    expect(third.code).toBe(0);
    await resident.stop();
    resident = undefined;
  }, 120_000);

  it("fallback (no resident signer): the limits come through sshd's SetEnv; the same refusal", async () => {
    const dir = hostLayout(host.env["SIGNSTAR_ROOT"]).signerDir(alice().user);
    expect(existsSync(join(dir, "socket"))).toBe(false);
    const first = await request();
    const inFlight = held(first.request.slice(0, 40));
    // The forwarder holds the one run slot (flock on run.0) while its in-process tool waits for the rest.
    const slot = join(dir, "run.0");
    await until("the fallback's run slot", () => exclusivelyLocked(slot));
    const second = await host.ssh(alice(), { input: (await request()).request });
    expect(second).toMatchObject({ code: ExitCode.Busy, stdout: "", stderr: BUSY });
    await signsAndVerifies(first, await inFlight.finish(first.request.slice(40)));
    const third = await host.ssh(alice(), { input: (await request()).request });
    expect(third.stderr).toBe("");
    expect(third.code).toBe(0);
  }, 120_000);
});
