import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { type Server, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Pkcs11Error,
  Pkcs11KeyNotFoundError,
  Pkcs11MechanismError,
  Pkcs11ModuleError,
  Pkcs11PinError,
  Pkcs11PinLockedError,
  Pkcs11TokenNotFoundError,
  openPkcs11Admin,
  openPkcs11SigningKey,
} from "../../../lib/backends/pkcs11/index.js";
import { translate } from "../../../lib/backends/pkcs11/errors.js";
import { CKM_EDDSA, pkcs11js } from "../../../lib/backends/pkcs11/pkcs11js.js";
import { ExitCode } from "../../../lib/errors.js";
import { P11_KIT_CLIENT_MODULE } from "../../support/p11kit.js";
import { type SoftHsm, createSoftHsm } from "../../support/softhsm.js";
import { SIGN_CHILD, buildFakeModule, runSignChild, setupFor, type ChildResult } from "./helpers.js";

const WRONG_PIN = "918273645";

async function failure(p: Promise<unknown>): Promise<Pkcs11Error> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(Pkcs11Error);
    const err = e as Pkcs11Error;
    expect(err.exitCode).toBe(ExitCode.Backend);
    expect(err.message).not.toMatch(/\n/);
    expect(err.message).not.toContain(WRONG_PIN);
    expect(err.message).not.toContain("123456");
    return err;
  }
  throw new Error("expected a failure");
}

/** Live (not zombie) processes in process group `pgid`, with their command lines. */
function liveProcessesInGroup(pgid: number): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      // pid (comm) state ppid pgrp …: comm may contain spaces and parentheses, so parse after the last ")".
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) !== pgid || state === "Z") continue;
      out.push({ pid: Number(d), cmdline: readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0/g, " ").trim() });
    } catch {
      /* process gone */
    }
  }
  return out;
}

const isWatchdog = (p: { cmdline: string }): boolean => p.cmdline.includes('kill -KILL "$PPID"');

/**
 * Runs the sign-child as the leader of its own process group (its watchdog inherits the group), noting whether
 * a watchdog was seen in the group while the child ran.
 */
function runSignChildInGroup(input: object, timeoutMs: number): Promise<ChildResult & { pgid: number; watchdogSeen: boolean }> {
  if (!existsSync(SIGN_CHILD)) throw new Error(`${SIGN_CHILD} is missing: run "npm run build" first`);
  return new Promise((resolvePromise, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [SIGN_CHILD], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    const pgid = child.pid;
    if (pgid === undefined) {
      child.on("error", reject);
      return;
    }
    let stdout = "";
    let stderr = "";
    let watchdogSeen = false;
    const poll = setInterval(() => {
      if (!watchdogSeen) watchdogSeen = liveProcessesInGroup(pgid).some(isWatchdog);
    }, 20);
    const killer = setTimeout(() => process.kill(-pgid, "SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearInterval(poll);
      clearTimeout(killer);
      resolvePromise({ code, signal, stdout, stderr, ms: Date.now() - started, pgid, watchdogSeen });
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** Waits (polling, up to `deadlineMs`) until no live process is left in the group; returns what is left. */
async function groupEmptied(pgid: number, deadlineMs = 10_000): Promise<{ pid: number; cmdline: string }[]> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const left = liveProcessesInGroup(pgid);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("PKCS#11 error cases", () => {
  let hsm: SoftHsm;
  let dir: string;

  beforeAll(async () => {
    hsm = await createSoftHsm({ tokens: [{ label: "signstar" }, { label: "other" }] });
    hsm.activate();
    dir = await mkdtemp(join(tmpdir(), "signstar-p11err-"));
    const admin = await openPkcs11Admin({ module: hsm.module, token: { label: "signstar" }, userPin: hsm.token.userPin });
    try {
      await admin.generateKey("label:k", setupFor("EcP256"));
    } finally {
      await admin.close();
    }
  });
  afterAll(async () => {
    await hsm?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const open = (o: { module?: string; token?: { label: string } | { serial: string }; key?: { label: string }; pin?: string; timeoutMs?: number }) =>
    openPkcs11SigningKey({
      module: o.module ?? hsm.module,
      token: o.token ?? { label: "signstar" },
      key: o.key ?? { label: "k" },
      pin: o.pin ?? hsm.token.userPin,
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    });

  it("wrong PIN: CKR_PIN_INCORRECT, names module and token, not the PIN", async () => {
    const err = await failure(open({ pin: WRONG_PIN }));
    expect(err).toBeInstanceOf(Pkcs11PinError);
    expect(err.ckr).toBe("CKR_PIN_INCORRECT");
    expect(err.message).toBe(`wrong PIN (CKR_PIN_INCORRECT; module ${hsm.module}, token label "signstar")`);
    // The module was finalized on the failure path: a correct open works right after.
    const key = await open({});
    await key.close();
  });

  it("locked PIN: CKR_PIN_LOCKED (SoftHSM never locks, so a fake module returns it)", async () => {
    const locked = await buildFakeModule(dir, "FAKE_PIN_LOCKED");
    const err = await failure(open({ module: locked, token: { label: "locked" }, pin: WRONG_PIN }));
    expect(err).toBeInstanceOf(Pkcs11PinLockedError);
    expect(err.message).toBe(
      `the PIN is locked after too many wrong attempts (CKR_PIN_LOCKED; module ${locked}, token label "locked"); the security officer must reset it`,
    );
  });

  it("missing module file, and a file that is not a PKCS#11 module", async () => {
    const missing = join(dir, "nope.so");
    const err = await failure(open({ module: missing }));
    expect(err).toBeInstanceOf(Pkcs11ModuleError);
    expect(err.message).toBe(`PKCS#11 module ${missing} does not exist or is not a file`);
    const bogus = join(dir, "bogus.so");
    await writeFile(bogus, "not an ELF file\n");
    const err2 = await failure(open({ module: bogus }));
    expect(err2).toBeInstanceOf(Pkcs11ModuleError);
    expect(err2.message).toMatch(new RegExp(`^cannot load PKCS#11 module ${bogus}: .*(invalid ELF header|file too short)`));
    await expect(failure(open({ module: "relative/module.so" }))).resolves.toBeInstanceOf(Pkcs11ModuleError);
  });

  it("token not found lists the labels there are (labels only)", async () => {
    const err = await failure(open({ token: { label: "missing" } }));
    expect(err).toBeInstanceOf(Pkcs11TokenNotFoundError);
    expect(err.message).toBe(`no token with label "missing" in module ${hsm.module}; tokens present: "other", "signstar"`);
    expect(err.message).not.toContain(hsm.token.serial);
    const err2 = await failure(open({ token: { serial: "0000111122223333" } }));
    expect(err2.message).toMatch(/^no token with serial "0000111122223333" in module .*; tokens present: "other", "signstar"$/);
  });

  it("key not found names key and token", async () => {
    const err = await failure(open({ key: { label: "absent" } }));
    expect(err).toBeInstanceOf(Pkcs11KeyNotFoundError);
    expect(err.message).toBe(`no private key label:absent on module ${hsm.module}, token label "signstar"`);
    const err2 = await failure(open({ token: { label: "other" }, pin: hsm.tokens[1]!.userPin }));
    expect(err2.message).toBe(`no private key label:k on module ${hsm.module}, token label "other"`);
  });

  it("unsupported mechanism: CKR_MECHANISM_INVALID names the mechanism, and p11-kit's EdDSA gap", () => {
    const native = new pkcs11js.Pkcs11Error("CKR_MECHANISM_INVALID:112", 112, "C_SignInit");
    const direct = translate(native, "C_Sign", { module: "/usr/lib/x.so", token: 'label "t"', key: "label:k", mechanism: pkcs11js.CKM_ECDSA });
    expect(direct).toBeInstanceOf(Pkcs11MechanismError);
    expect(direct.message).toBe('CKM_ECDSA is not supported by module /usr/lib/x.so, token label "t", key label:k (CKR_MECHANISM_INVALID)');
    const viaP11Kit = translate(native, "C_Sign", { module: P11_KIT_CLIENT_MODULE, token: 'label "t"', key: "label:k", mechanism: CKM_EDDSA });
    expect(viaP11Kit.message).toMatch(/^CKM_EDDSA is not available through p11-kit-client \(CKR_MECHANISM_INVALID, .*\): p11-kit 0\.24 does not forward EdDSA/);
  });

  it("a module that hangs in C_Initialize: the watchdog ends the process after the deadline with one line", async () => {
    const hang = await buildFakeModule(dir, "FAKE_HANG_INIT");
    const r = await runSignChildInGroup({ module: hang, token: { label: "x" }, key: { label: "k" }, pin: WRONG_PIN, count: 1, timeoutMs: 1500 }, 60_000);
    expect(r.signal).toBe("SIGKILL");
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`PKCS#11 module ${hang} did not answer C_Initialize within 1500 ms; stopping\n`);
    // The watchdog ran in the child's process group, and nothing of the group outlives the child.
    expect(r.watchdogSeen).toBe(true);
    expect(await groupEmptied(r.pgid)).toEqual([]);
  });

  it("a p11-kit server that accepts and never answers is bounded the same way", async () => {
    const sock = join(dir, "silent.sock");
    const server: Server = createServer(() => {
      /* accept, say nothing */
    });
    await new Promise<void>((res) => server.listen(sock, res));
    try {
      const r = await runSignChild(
        { module: P11_KIT_CLIENT_MODULE, token: { label: "signstar" }, key: { label: "k" }, pin: WRONG_PIN, count: 1, timeoutMs: 1500 },
        { P11_KIT_SERVER_ADDRESS: `unix:path=${sock}` },
        30_000,
      );
      expect(r.signal).toBe("SIGKILL");
      expect(r.stderr).toBe(`PKCS#11 module ${P11_KIT_CLIENT_MODULE} did not answer C_Initialize within 1500 ms; stopping\n`);
      expect(r.stderr).not.toContain(WRONG_PIN);
    } finally {
      server.close();
    }
  });
});
