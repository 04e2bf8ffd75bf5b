/**
 * The signing log as an operator sets it up (docs/tlog.md, "Operating the log"), on a production host
 * (tests/support/production-host.ts) with nothing but the installed executables:
 *
 * config with signing_log → signstar-configure-build (the signstar-log user, the log directories, the writer's
 * socket enabled; a second run changes nothing) → signstar-configure killed right after it made the log key, then
 * run again (the same key, its verifier key printed) → the writer started as signstar-log the documented way → sshd
 * → a client signs → the entry is proven included by our verifier and Go's with the printed verifier key →
 * signstar-config, signstar-admin and the key-certificates user hand out the same verifier key → signstar-admin
 * log list/export → a configuration naming another origin is refused without touching the key.
 */
import { execFile } from "node:child_process";
import { lstat, mkdtemp, readFile, readlink, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CRASH_ENV } from "../../lib/configure/crash.js";
import { ExitCode } from "../../lib/errors.js";
import { parseVerifierKey } from "../../lib/tlog/note.js";
import { buildGoVerifier, goVerify } from "../support/go-tlog-verifier.js";
import { logIndexOf, printedVerifierKey, provenIncluded, signFile } from "../support/log-proof.js";
import { startProductionHost, type ProductionHost, type ProductionSshd } from "../support/production-host.js";
import { run } from "../support/run.js";
import { softHsmConfig } from "../support/softhsm-config.js";
import { generateSshKey, runSsh, type SshKey } from "../support/sshd.js";

const exec = promisify(execFile);
const SIGNER = "logop-signer";
const CERTS = "logop-certs";
const ORIGIN = "logop.test/signstar-log";
const LOG_DIR = "/var/lib/signstar/log";

let host: ProductionHost;
let sshd: ProductionSshd;
let work: string;
let go: string;
const keys = new Map<string, SshKey>();
/** The verifier key signstar-configure printed. */
let vkey: string;

function config(origin: string): string {
  return softHsmConfig({
    signingLog: { origin },
    tokens: ["logop"],
    signers: [{ user: SIGNER, publicKey: keys.get(SIGNER)!.publicKey, token: "logop", key: SIGNER, userId: `${SIGNER} <${SIGNER}@logop.test>` }],
    keyCertificates: { user: CERTS, publicKey: keys.get(CERTS)!.publicKey },
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-logop-"));
  for (const user of [SIGNER, CERTS]) keys.set(user, await generateSshKey(work, user));
  [host, go] = await Promise.all([startProductionHost(), buildGoVerifier()]);
}, 300_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("operating the signing log", () => {
  it("configure-build: the signstar-log user, the log directories only it writes, the writer's socket enabled; idempotent", async () => {
    await host.writeConfig(config(ORIGIN));
    const built = await host.operator("signstar-configure-build");
    expect(built).toMatch(/^create user signstar-log: useradd --system --user-group --no-create-home --home-dir \/var\/lib\/signstar\/log --shell \/usr\/sbin\/nologin signstar-log$/m);
    const passwd = (await host.run(["getent", "passwd", "signstar-log"])).stdout.trim().split(":");
    const uid = Number(passwd[2]);
    expect(uid).toBeGreaterThan(0);
    expect(passwd[6]).toBe("/usr/sbin/nologin");
    for (const dir of [LOG_DIR, "/run/signstar/log"]) {
      const st = await lstat(host.path(dir));
      expect(st.isDirectory()).toBe(true);
      expect([st.uid, st.mode & 0o7777]).toEqual([uid, 0o755]);
    }
    expect(await readFile(host.path("/usr/lib/tmpfiles.d/signstar-log.conf"), "utf8")).toContain(`d ${LOG_DIR} 0755 signstar-log signstar-log -\n`);
    expect(await readlink(host.path("/etc/systemd/system/sockets.target.wants/signstar-log-writer.socket"))).toBe("/usr/lib/systemd/system/signstar-log-writer.socket");
    expect(await host.operator("signstar-configure-build")).toMatch(/^nothing to do$/m);
  }, 120_000);

  it("configure makes the log key once: killed right after it, the next run keeps that key and prints its verifier key", async () => {
    // A dry run only says it would.
    const planned = await host.operator("signstar-configure", ["--dry-run"]);
    expect(planned).toContain(`plan: generate the signing log key /var/lib/signstar/log.key (origin ${ORIGIN})\n`);
    await expect(lstat(host.path("/var/lib/signstar/log.key"))).rejects.toThrow(/ENOENT/);
    const killed = await host.tool("signstar-configure", [], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", [CRASH_ENV]: "log:after-key" } });
    expect(killed.code).not.toBe(0);
    const keyFile = await lstat(host.path("/var/lib/signstar/log.key"));
    expect([keyFile.uid, keyFile.mode & 0o7777]).toEqual([0, 0o600]);
    const made = await readFile(host.path("/var/lib/signstar/log.key"), "utf8");

    const out = await host.operator("signstar-configure");
    expect(out).not.toMatch(/generate the signing log key/);
    const printed = printedVerifierKey(out);
    expect(printed).toBeDefined();
    vkey = printed!;
    expect(parseVerifierKey(vkey).name).toBe(ORIGIN);
    expect(await readFile(host.path("/var/lib/signstar/log.key"), "utf8")).toBe(made);
    expect(await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${vkey}\n`);
    // A third run changes nothing about the log and prints the same key.
    const again = await host.operator("signstar-configure");
    expect(again).not.toMatch(/signing log key|log's verifier key to/);
    expect(again).toContain(`info: signing log verifier key ${vkey}\n`);
  }, 240_000);

  it("the writer runs as signstar-log, started the documented way; a signing user cannot write the log", async () => {
    await host.startLogWriter();
    const ps = await host.run(["pgrep", "-u", "signstar-log", "-f", "signstar-log-writer"]);
    expect(ps.code).toBe(0);
    expect((await host.run(["pgrep", "-u", "root", "-f", "node /usr/bin/signstar-log-writer"])).code).toBe(1);
    const write = await host.run(["runuser", "-u", SIGNER, "--", "touch", `${LOG_DIR}/intruder`]);
    expect(write.code).not.toBe(0);
    sshd = await host.startSshd();
  }, 60_000);

  it("a signature is in the log when the client has it: our verifier and Go's prove it with the printed verifier key", async () => {
    const data = join(work, "release.tar");
    await writeFile(data, `a release ${Date.now()}\n`);
    const index = await logIndexOf(await signFile(sshd, SIGNER, keys.get(SIGNER)!.privateKeyFile, data), ORIGIN);
    const entry = await provenIncluded({ dir: host.path(LOG_DIR), vkey, go, index, user: SIGNER });

    // signstar-admin log list shows it, verified; export copies a tree Go verifies too.
    const listed = await host.operator("signstar-admin", ["log", "list", "--user", SIGNER]);
    expect(listed).toMatch(new RegExp(`^${index} \\S+Z ${SIGNER} ${entry.kind === "signature" ? entry.key : ""} [0-9a-f]{128}$`, "m"));
    await host.operator("signstar-admin", ["log", "export", "/var/tmp/logop-export"]);
    const exported = await goVerify(go, host.path("/var/tmp/logop-export"), vkey, "inclusion", String(index));
    expect(exported.stdout).toMatch(/^ok entry/);
  }, 120_000);

  it("the verifier key: signstar-config (any user), signstar-admin, and the key-certificates user (keyring, index, alone)", async () => {
    expect((await host.tool("signstar-config", ["log-key"], { user: SIGNER })).stdout).toBe(`${vkey}\n`);
    expect(await host.operator("signstar-admin", ["log", "vkey"])).toBe(`${vkey}\n`);
    const ssh = (command?: string[]) => runSsh({ sshd, user: CERTS, identity: keys.get(CERTS)!.privateKeyFile, ...(command ? { command } : {}) });
    const keyring = await ssh();
    expect(keyring.stderr).toBe("");
    expect(keyring.stdout).toMatch(new RegExp(`^-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: signstar-log ${vkey.replace(/[+/]/g, "\\$&")}\n\n`));
    // Existing clients read the same keyring: gpg imports it without a word about the header.
    const gnupg = await mkdtemp(join(tmpdir(), "signstar-logop-gpg-"));
    try {
      const imported = await run("gpg", ["--batch", "--import"], { input: keyring.stdout, env: { ...process.env, GNUPGHOME: gnupg } });
      expect(imported.code).toBe(0);
      expect(imported.stderr).not.toMatch(/armor|header/i);
    } finally {
      await exec("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"]).catch(() => undefined);
      await rm(gnupg, { recursive: true, force: true });
    }
    const index = JSON.parse((await ssh(["json"])).stdout) as { version: number; keys: unknown[]; signing_log: unknown };
    expect(index.version).toBe(1);
    expect(index.keys).toHaveLength(1);
    expect(index.signing_log).toEqual({ origin: ORIGIN, verifier_key: vkey });
    expect((await ssh(["log-vkey"])).stdout).toBe(`${vkey}\n`);
  }, 60_000);

  it("a log.vkey without its key file is refused: one line, exit 4, no new key; with the key back the run passes", async () => {
    await rename(host.path("/var/lib/signstar/log.key"), host.path("/var/lib/signstar/log.key.away"));
    try {
      const r = await host.tool("signstar-configure");
      expect(r.code).toBe(ExitCode.Config);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/the signing log's verifier key in \/var\/lib\/signstar\/log\.vkey names a key, but \/var\/lib\/signstar\/log\.key does not exist/);
      await expect(lstat(host.path("/var/lib/signstar/log.key"))).rejects.toThrow(/ENOENT/);
      expect(await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${vkey}\n`);
    } finally {
      await rename(host.path("/var/lib/signstar/log.key.away"), host.path("/var/lib/signstar/log.key"));
    }
    expect(await host.operator("signstar-configure")).toContain(`info: signing log verifier key ${vkey}\n`);
  }, 120_000);

  it("a configuration naming another origin is refused: one line, exit 4, the key untouched", async () => {
    const before = await readFile(host.path("/var/lib/signstar/log.key"));
    await host.writeConfig(config("another.test/log"));
    const r = await host.tool("signstar-configure");
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/the signing log key \/var\/lib\/signstar\/log\.key is for origin "logop\.test\/signstar-log", but signing_log's origin is "another\.test\/log"/);
    expect(await readFile(host.path("/var/lib/signstar/log.key"))).toEqual(before);
    expect(await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${vkey}\n`);
    await host.writeConfig(config(ORIGIN));
  }, 120_000);
});
