/**
 * The built executable (`npm run build` first): exit codes, one-line errors, stdout only on success.
 * The fake signing host runs in this process, so the child is spawned asynchronously.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as openpgp from "openpgp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatProgress, progressBar } from "../../lib/client/progress.js";
import { createSigningResponse } from "../../lib/signing/response.js";
import { run as runProcess, type RunResult } from "../support/run.js";
import { startFakeHost, type FakeHost, type Handler } from "./support/fake-host.js";
import { makeKey, type TestKey } from "./support/keys.js";

const BIN = resolve(import.meta.dirname, "../../dist/bin/signstar-request-signature.js");
const dir = mkdtempSync(join(tmpdir(), "signstar-client-cli-"));
let host: FakeHost;
let hostKey: TestKey;
let clientKey: TestKey;
let knownHosts: string;
let behaviour: Handler;
let pgpKey: openpgp.PrivateKey;

function run(args: string[]): Promise<RunResult> {
  return runProcess(process.execPath, [BIN, ...args], { env: { ...process.env, SSH_AUTH_SOCK: "" } });
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
  hostKey = makeKey(dir, "host");
  clientKey = makeKey(dir, "client");
  pgpKey = (await openpgp.generateKey({ type: "ecc", curve: "ed25519Legacy", userIDs: [{ name: "T" }], format: "object" })).privateKey;
  host = await startFakeHost({ hostKey: hostKey.privateKey, users: { signer: clientKey.publicLine }, handler: (i, u) => behaviour(i, u) });
  knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${host.port} ${hostKey.publicLine}\n`);
});
afterAll(async () => {
  await host.close();
  rmSync(dir, { recursive: true, force: true });
});

const sendArgs = (file: string, extra: string[] = []): string[] => [
  "send",
  "--host",
  "127.0.0.1",
  "--port",
  String(host.port),
  "--user",
  "signer",
  "--identity",
  clientKey.path,
  "--known-hosts",
  knownHosts,
  "--timeout",
  "10",
  ...extra,
  file,
];

describe("signstar-request-signature executable", () => {
  it("send: writes FILE.sig, prints its path, exit 0", async () => {
    const file = join(dir, "ok.bin");
    const content = Buffer.from("payload for the cli\n");
    writeFileSync(file, content);
    behaviour = async () => ({
      stdout: createSigningResponse(
        await openpgp.sign({
          message: await openpgp.createMessage({ binary: content }),
          signingKeys: pgpKey,
          detached: true,
          config: { preferredHashAlgorithm: openpgp.enums.hash.sha512 },
        }),
      ),
      exit: 0,
    });
    const r = await run(sendArgs(file));
    expect(r).toEqual({ code: 0, stdout: `${file}.sig\n`, stderr: "" });
    expect(existsSync(`${file}.sig`)).toBe(true);
    // Second run refuses to overwrite: exit 3.
    const again = await run(sendArgs(file));
    expect(again.code).toBe(3);
    expect(again.stdout).toBe("");
    expect(again.stderr).toBe(`signstar-request-signature: output ${file}.sig already exists (use --force to replace it)\n`);
  });

  it("remote failure: exit 8, the host's message on one line, nothing on stdout, no file", async () => {
    const file = join(dir, "remote-fail.bin");
    writeFileSync(file, "x");
    behaviour = () => ({ stderr: "error: user signer is not allowed to sign\nstack trace line\n", exit: 5 });
    const r = await run(sendArgs(file));
    expect(r.code).toBe(8);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `signstar-request-signature: signer@[127.0.0.1]:${host.port}: remote command failed with exit code 5: error: user signer is not allowed to sign\n`,
    );
    expect(readdirSync(dir).filter((f) => f.startsWith("remote-fail.bin"))).toEqual(["remote-fail.bin"]);
  });

  it("unknown host: exit 5", async () => {
    const file = join(dir, "unknown.bin");
    writeFileSync(file, "x");
    const kh = join(dir, "kh-empty");
    writeFileSync(kh, "# nothing\n");
    const r = await run(["send", "--host", "127.0.0.1", "--port", String(host.port), "--user", "signer", "--identity", clientKey.path, "--known-hosts", kh, file]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^signstar-request-signature: host \[127\.0\.0\.1\]:\d+ has no entry in .*kh-empty\n$/);
  });

  it("encrypted identity: exit 4; usage errors: exit 2", async () => {
    const file = join(dir, "enc.bin");
    writeFileSync(file, "x");
    const enc = makeKey(dir, "enc", "ed25519", "pw-not-shown");
    const r = await run(["send", "--host", "127.0.0.1", "--port", String(host.port), "--user", "signer", "--identity", enc.path, "--known-hosts", knownHosts, file]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/passphrase-protected/);
    expect(r.stderr).not.toMatch(/pw-not-shown|\n.+\n/);
    const neither = await run(["send", "--host", "h", "--user", "u", "--known-hosts", knownHosts, file]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain("one of --identity and --agent is required");
    const agentless = await run(["send", "--host", "127.0.0.1", "--port", String(host.port), "--user", "u", "--agent", "--known-hosts", knownHosts, file]);
    expect(agentless.code).toBe(4); // ExitCode.Config: no SSH_AUTH_SOCK
    expect(agentless.stderr).toContain("SSH_AUTH_SOCK is not set");
    const badPort = await run(sendArgs(file, ["--port", "abc"]));
    expect(badPort.code).toBe(2);
    expect((await run(["frobnicate"])).code).toBe(2);
  });

  it("a repeated option is a usage error naming it (issue 12.14)", async () => {
    const file = join(dir, "twice.bin");
    writeFileSync(file, "x");
    const r = await run(["send", "--host", "127.0.0.1", "--host", "127.0.0.2", "--port", String(host.port), "--user", "signer", "--identity", clientKey.path, "--known-hosts", knownHosts, file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^signstar-request-signature: --host is given more than once; give it once; usage: /);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("prepare into a pipe closed early: one line, no stack trace (issue 12.8)", async () => {
    const file = join(dir, "big.bin");
    writeFileSync(file, Buffer.alloc(4 * 1024 * 1024, 7));
    const r = await runProcess("sh", ["-c", `"${process.execPath}" "${BIN}" prepare "${file}" | true`], { env: { ...process.env } });
    expect(r.stderr).not.toContain("    at ");
    expect(r.stderr.trimEnd().split("\n").length).toBeLessThanOrEqual(1);
  });

  it("Ctrl-C while hashing: exit 130, one line, nothing on stdout (issue 12.8)", async () => {
    const file = join(dir, "huge.bin");
    writeFileSync(file, "");
    truncateSync(file, 8 * 1024 * 1024 * 1024); // sparse: seconds of hashing, no disk
    try {
      const child = spawn(process.execPath, [BIN, "prepare", file], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      // Interrupt once the file is open (the shell and its SIGINT handling run before the body hashes it).
      const hashing = (): boolean => {
        try {
          return readdirSync(`/proc/${child.pid}/fd`).some((fd) => {
            try {
              return readlinkSync(`/proc/${child.pid}/fd/${fd}`) === file;
            } catch {
              return false;
            }
          });
        } catch {
          return false;
        }
      };
      while (!hashing()) await new Promise((r) => setTimeout(r, 20));
      child.kill("SIGINT");
      const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
      expect(code).toBe(130);
      expect(stdout).toBe("");
      expect(stderr).toBe("signstar-request-signature: interrupted\n");
    } finally {
      rmSync(file, { force: true });
    }
  });

  it("prepare: JSON on stdout; missing file: exit 3", async () => {
    const file = join(dir, "prep.txt");
    writeFileSync(file, "this is sample text");
    const r = await run(["prepare", file]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as { version: string; optional: Record<string, unknown> };
    expect(json.version).toBe("1.0.0");
    expect(json.optional["file-name"]).toBe("prep.txt");
    const missing = await run(["prepare", join(dir, "nope")]);
    expect(missing.code).toBe(3);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toBe(`signstar-request-signature: cannot open ${join(dir, "nope")}: no such file\n`);
  });
});

describe("progress bar", () => {
  it("formats a bounded line", () => {
    const line = formatProgress("hashing big.iso", 512 * 1024 * 1024, 1024 * 1024 * 1024, 80);
    expect(line).toContain(" 50% 512/1024 MiB");
    expect(line.length).toBeLessThanOrEqual(80);
    expect(formatProgress("x", 0, 0, 80)).toContain("100%");
  });

  it("stays silent for fast hashes, throttles, and erases itself", () => {
    const writes: string[] = [];
    let t = 0;
    const bar = progressBar({ write: (s: string) => writes.push(s), columns: 80 }, "hashing f", { now: () => t, delayMs: 500 });
    bar.onProgress(10, 100);
    expect(writes).toEqual([]);
    t = 600;
    bar.onProgress(20, 100);
    t = 650;
    bar.onProgress(30, 100); // throttled
    t = 700;
    bar.onProgress(40, 100);
    expect(writes).toHaveLength(2);
    expect(writes[1]).toContain(" 40%");
    bar.finish();
    expect(writes.at(-1)).toBe("\r\x1b[K");
    bar.finish();
    expect(writes).toHaveLength(3);
  });
});
