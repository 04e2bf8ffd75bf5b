/**
 * Reading the signing log (issue 16) on a production host (tests/support/production-host.ts), set up only by the
 * production commands: config with signing_log, a signing user and a log_reader → signstar-configure-build →
 * signstar-configure (the log key) → the log writer as signstar-log → Debian's sshd → the client.
 *
 * The log_reader serves the checkpoint, tiles and entry bundles exactly as stored, one per SSH call; a path the
 * log does not hold yet exits 11, a bad path (`..`, absolute, overlong, control characters, other files) exits 3,
 * a symbolic link below the log directory is refused; nothing reaches stdout on a refusal. The reader can read the
 * log but not write it. `signstar-request-signature verify-log` proves a signature's inclusion over SSH, and
 * detects a modified entry, a dropped entry, a forked or rolled-back checkpoint (against the one it saw before)
 * and a wrong verifier key, each with one line on stderr and exit 5.
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { signCheckpoint, openCheckpoint } from "../../lib/tlog/checkpoint.js";
import { loadLogKeyFile } from "../../lib/tlog/key-file.js";
import { ed25519NoteSigner, parseVerifierKey } from "../../lib/tlog/note.js";
import { tileFor, tilePath } from "../../lib/tlog/tiles.js";
import { startProductionHost, type ProductionHost, type ProductionSshd } from "../support/production-host.js";
import { run, runBytes, type RunResult } from "../support/run.js";
import { generateSshKey, type SshKey } from "../support/sshd.js";
import { softHsmConfig } from "../support/softhsm-config.js";
import { CLIENT, signFile } from "../support/log-proof.js";

const SIGNER = "log-signer";
const READER = "log-reader";
const ORIGIN = "reader.signstar.test/log";
const LOG = "/var/lib/signstar/log";

let host: ProductionHost;
let sshd: ProductionSshd;
let work: string;
let vkeyFile: string;
let vkey: string;
const keys = new Map<string, SshKey>();

function config(): string {
  return softHsmConfig({
    signingLog: { origin: ORIGIN },
    systemMappings: [{ kind: "log_reader", user: READER, publicKey: keys.get(READER)!.publicKey }],
    tokens: ["logread"],
    signers: [{ user: SIGNER, publicKey: keys.get(SIGNER)!.publicKey, token: "logread", key: SIGNER, userId: `${SIGNER} <${SIGNER}@logread.test>` }],
  });
}

/** `ssh reader@host <command>` with the OpenSSH client; stdout as bytes. */
function readerSsh(command: readonly string[]): Promise<RunResult<Buffer>> {
  return runBytes("ssh", [
    "-F", "/dev/null", "-p", String(sshd.port), "-i", keys.get(READER)!.privateKeyFile,
    "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${sshd.knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
    `${READER}@${sshd.host}`, ...command,
  ], { timeoutMs: 30_000 });
}

let signedCount = 0;
/** The client signs a fresh file; returns it and its signature. */
async function sign(): Promise<{ data: string; sig: string }> {
  signedCount += 1;
  const data = join(work, `file-${signedCount}.txt`);
  await writeFile(data, `logged file ${signedCount} ${Date.now()}\n`);
  return { data, sig: await signFile(sshd, SIGNER, keys.get(SIGNER)!.privateKeyFile, data) };
}

/** `signstar-request-signature verify-log` as the client runs it. */
function verifyLog(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return run(process.execPath, [CLIENT, "verify-log", "--host", sshd.host, "--port", String(sshd.port), "--user", READER,
    "--identity", keys.get(READER)!.privateKeyFile, "--known-hosts", sshd.knownHosts, ...args], { env });
}

/** A refusal: nothing on stdout, exactly one line on stderr matching `pattern`, the exit code. */
function expectRefused(r: RunResult | RunResult<Buffer>, code: number, pattern: RegExp): void {
  expect(r.stdout.length, String(r.stderr)).toBe(0);
  expect(String(r.stderr)).toMatch(/^[^\n]+\n$/);
  expect(String(r.stderr)).toMatch(pattern);
  expect(r.code, String(r.stderr)).toBe(code);
}

const logFile = (path: string): string => host.path(join(LOG, path));

/** The current checkpoint's size, from the file as stored. */
async function logSize(): Promise<number> {
  return openCheckpoint(await readFile(logFile("checkpoint")), parseVerifierKey(vkey)).size;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-log-reader-"));
  await chmod(work, 0o700);
  for (const name of [SIGNER, READER]) keys.set(name, await generateSshKey(work, name));
  host = await startProductionHost();
  await host.writeConfig(config());
  await host.operator("signstar-configure-build");
  await host.operator("signstar-configure");
  vkey = (await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).trim();
  vkeyFile = join(work, "log.vkey");
  await writeFile(vkeyFile, `${vkey}\n`);
  await host.startLogWriter();
  sshd = await host.startSshd();
}, 300_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the log_reader role", () => {
  it("serves the checkpoint, hash tiles and entry bundles exactly as stored; a file the log does not hold yet exits 11", async () => {
    await sign();
    const size = await logSize();
    expect(size).toBeGreaterThan(0);
    for (const [command, path] of [
      [[], "checkpoint"],
      [["checkpoint"], "checkpoint"],
      [[tilePath(tileFor("entries", 0, size))], tilePath(tileFor("entries", 0, size))],
      [[tilePath(tileFor(0, 0, size))], tilePath(tileFor(0, 0, size))],
    ] as const) {
      const r = await readerSsh(command);
      expect(r.stderr.toString()).toBe("");
      expect(r.code).toBe(0);
      expect(Buffer.compare(r.stdout, await readFile(logFile(path))), path).toBe(0);
    }
    for (const missing of ["tile/entries/001", "tile/0/x001/234", "tile/1/000.p/1", `tile/entries/000.p/${size + 1}`]) {
      expectRefused(await readerSsh([missing]), ExitCode.NotFound, /^signstar-download-log: the log has no /);
    }
    const audit = await host.journal.waitFor(/log file served: user="log-reader" path="checkpoint".* outcome="ok"/);
    expect(audit).toContain("bytes=");
  });

  it("refuses bad paths with one line, exit 3 and nothing on stdout", async () => {
    const bad = [
      "../log.key",
      "tile/../../log.key",
      "/var/lib/signstar/log.key",
      "/etc/passwd",
      ".lock",
      "writer-stats.json",
      "tile/entries/000/../000",
      "tile//0/000",
      `tile/0/${"x001/".repeat(60)}000`,
      "a".repeat(5000),
      "tile/0/000\u001b[2J",
      "checkpoint\tx",
      "tile/0/000 tile/0/001",
      "tile/0/0001",
      "tile/64/000",
      "tile/0/000.p/256",
    ];
    for (const path of bad) expectRefused(await readerSsh([path]), ExitCode.BadInput, /^signstar-download-log: not a (log path|canonical tile index)|^signstar-download-log: (tile level|partial width)/);
  });

  it("follows no symbolic link below the log directory (final or intermediate)", async () => {
    await symlink("/etc/passwd", logFile("tile/entries/099"));
    await mkdir(host.path("/var/tmp/logread-elsewhere"), { recursive: true });
    await writeFile(host.path("/var/tmp/logread-elsewhere/000"), "not a tile");
    await symlink("/var/tmp/logread-elsewhere", logFile("tile/9"));
    try {
      expectRefused(await readerSsh(["tile/entries/099"]), ExitCode.Config, /too many symbolic links/);
      expectRefused(await readerSsh(["tile/9/000"]), ExitCode.Config, /reached through a symbolic link/);
    } finally {
      await rm(logFile("tile/entries/099"));
      await rm(logFile("tile/9"));
    }
  });

  it("the reader can read the log but write nothing in it; other roles are denied", async () => {
    const asReader = (script: string): Promise<RunResult> => host.run(["runuser", "-u", READER, "--", "sh", "-c", script]);
    expect((await asReader(`cat ${LOG}/checkpoint >/dev/null`)).code).toBe(0);
    for (const script of [`echo x >> ${LOG}/checkpoint`, `touch ${LOG}/new`, `mkdir ${LOG}/tile/new`, `rm -f ${LOG}/checkpoint`, `mv ${LOG}/checkpoint ${LOG}/c2`]) {
      const r = await asReader(script);
      expect(r.code, script).not.toBe(0);
      expect(r.stderr, script).toMatch(/Permission denied|Operation not permitted/);
    }
    // No group of the writer's: the log is public (0755/0644), nothing else is needed to read it.
    const groups = (await host.run(["id", "-Gn", READER])).stdout.trim().split(" ");
    expect(groups).not.toContain("signstar-log");
  });
});

describe("signstar-request-signature verify-log", () => {
  it("proves a signature's inclusion (with the file's digest), keeps the checkpoint per host, and checks consistency the next time", async () => {
    const home = join(work, "home");
    await mkdir(home, { mode: 0o700 });
    const env = { ...process.env, HOME: home, XDG_STATE_HOME: "" };
    const first = await sign();
    const r1 = await verifyLog(["--log-key-file", vkeyFile, first.sig, first.data], env);
    expect(r1.stderr).toBe("");
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(new RegExp(`^logged: ${ORIGIN} entry \\d+ \\(key [0-9a-f]{40}, user ${SIGNER}, file digest matches\\), included in the checkpoint of size \\d+, first checkpoint seen of this log from this host\\n$`));
    const stored = join(home, ".local/state/signstar/log-checkpoints", `[127.0.0.1]:${sshd.port}`);
    const [file] = await readdir(stored);
    expect(await readFile(join(stored, file!))).toEqual(await readFile(logFile("checkpoint")));

    const second = await sign();
    const r2 = await verifyLog(["--log-key", vkey, second.sig], env);
    expect(r2.stderr).toBe("");
    expect(r2.code).toBe(0);
    expect(r2.stdout).toMatch(/consistent with the checkpoint of size \d+ seen before\n$/);
    // The first signature again: an older entry in the newer tree.
    const r3 = await verifyLog(["--log-key-file", vkeyFile, first.sig, first.data], env);
    expect(r3.code).toBe(0);
    // The wrong file for the signature.
    expectRefused(await verifyLog(["--log-key-file", vkeyFile, second.sig, first.data], env), ExitCode.Denied, /another file digest/);
  });

  it("detects a modified entry, a dropped entry, a forked or rolled-back checkpoint and a wrong key; the stored checkpoint stays", async () => {
    const checkpoints = join(work, "checkpoints");
    const { data, sig } = await sign();
    const ok = await verifyLog(["--checkpoints-dir", checkpoints, "--log-key-file", vkeyFile, sig, data]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    const size = await logSize();
    const [hostDir] = await readdir(checkpoints);
    const [seenFile] = await readdir(join(checkpoints, hostDir!));
    const seenPath = join(checkpoints, hostDir!, seenFile!);
    const seen = await readFile(seenPath);
    const verify = (): Promise<RunResult> => verifyLog(["--checkpoints-dir", checkpoints, "--log-key-file", vkeyFile, sig, data]);

    // A modified entry: one hex digit of the last entry's digest changed in the bundle, the checkpoint untouched.
    const bundle = logFile(tilePath(tileFor("entries", Math.floor((size - 1) / 256), size)));
    const original = await readFile(bundle);
    const text = original.toString("latin1");
    const at = text.lastIndexOf("digest ") + "digest ".length;
    const modified = Buffer.from(original);
    modified[at] = modified[at] === 0x30 ? 0x31 : 0x30;
    await writeFile(bundle, modified);
    try {
      expectRefused(await verify(), ExitCode.Denied, /^signstar-request-signature: log-reader@\[127\.0\.0\.1\]:\d+: entry \d+ is not included in the tree of size \d+/);
    } finally {
      await writeFile(bundle, original);
    }

    // A dropped entry: the last entry cut from its bundle.
    const lastStart = text.lastIndexOf("signstar-log-entry v1") - 2;
    await writeFile(bundle, original.subarray(0, lastStart));
    try {
      expectRefused(await verify(), ExitCode.Denied, /entry bundle holds \d+ entries, \d+ expected/);
    } finally {
      await writeFile(bundle, original);
    }

    // A fork: the checkpoint seen before has the same size and another root, signed by the log's own key.
    const logKey = await loadLogKeyFile(host.path("/var/lib/signstar/log.key"));
    const current = openCheckpoint(await readFile(logFile("checkpoint")), parseVerifierKey(vkey));
    await writeFile(seenPath, await signCheckpoint({ ...current, root: new Uint8Array(32).fill(7) }, logKey));
    expectRefused(await verify(), ExitCode.Denied, /not consistent with the tree of size \d+: same size, different root hash \(a fork\)/);
    // A rollback: the checkpoint seen before is larger than what the host serves now.
    await writeFile(seenPath, await signCheckpoint({ ...current, size: current.size + 3 }, logKey));
    const forkedSeen = await readFile(seenPath);
    expectRefused(await verify(), ExitCode.Denied, /the log shrank from \d+ to \d+ entries/);
    expect(await readFile(seenPath)).toEqual(forkedSeen);
    await writeFile(seenPath, seen);

    // A wrong key: another key of the same origin.
    const other = ed25519NoteSigner(ORIGIN, new Uint8Array(32).fill(9));
    expectRefused(await verifyLog(["--checkpoints-dir", checkpoints, "--log-key", other.verifierKey, sig, data]), ExitCode.Denied, /the note is not signed by reader\.signstar\.test\/log with key id [0-9a-f]{8}/);
    expect(await readFile(seenPath)).toEqual(seen);

    // Everything restored: it verifies again.
    const again = await verify();
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
  });

  it("refuses bad local input before connecting: a signature without the log notation, both or no key options", async () => {
    const notSig = join(work, "not-a-signature.sig");
    await writeFile(notSig, createHash("sha256").update("x").digest());
    expectRefused(await verifyLog(["--log-key-file", vkeyFile, notSig]), ExitCode.BadInput, /^signstar-request-signature: signature file .*not-a-signature\.sig: /);
    expectRefused(await verifyLog([notSig]), ExitCode.Usage, /one of --log-key and --log-key-file is required/);
    expectRefused(await verifyLog(["--log-key", vkey, "--log-key-file", vkeyFile, notSig]), ExitCode.Usage, /./);
  });
});
