import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import {
  AuthenticationError,
  ClientConfigError,
  ConnectionError,
  HostKeyError,
  RemoteError,
} from "../../lib/client/errors.js";
import { agentAuth, loadIdentity, type SshAuth } from "../../lib/client/identity.js";
import { parseKnownHosts, type KnownHostEntry } from "../../lib/client/known-hosts.js";
import { remoteMessage, runRemoteCommand, type RemoteCallOptions } from "../../lib/client/ssh-transport.js";
import { startFakeHost, type FakeHost, type Handler } from "./support/fake-host.js";
import { makeKey, type TestKey } from "./support/keys.js";

const dir = mkdtempSync(join(tmpdir(), "signstar-client-ssh-"));
let hostKey: TestKey;
let otherHostKey: TestKey;
let clientKey: TestKey;
let strangerKey: TestKey;
let identity: SshAuth;

let behaviour: Handler = (input) => ({ stdout: input, exit: 0 });
let host: FakeHost;

beforeAll(async () => {
  hostKey = makeKey(dir, "host");
  otherHostKey = makeKey(dir, "host2");
  clientKey = makeKey(dir, "client");
  strangerKey = makeKey(dir, "stranger");
  identity = await loadIdentity(clientKey.path);
  host = await startFakeHost({
    hostKey: hostKey.privateKey,
    users: { signer: clientKey.publicLine },
    handler: (input, user) => behaviour(input, user),
  });
});
afterAll(async () => {
  await host.close();
  rmSync(dir, { recursive: true, force: true });
});

const trusted = (): KnownHostEntry[] =>
  [...parseKnownHosts(`[127.0.0.1]:${host.port} ${hostKey.publicLine}\n`).entries];

function call(over: Partial<RemoteCallOptions> = {}): Promise<{ stdout: Buffer; stderr: string }> {
  return runRemoteCommand({
    host: "127.0.0.1",
    port: host.port,
    user: "signer",
    auth: identity,
    knownHosts: trusted(),
    knownHostsPath: "/test/known_hosts",
    input: Buffer.from('{"request":1}'),
    readyTimeoutMs: 5000,
    timeoutMs: 10_000,
    ...over,
  });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("ssh transport against a fake signing host", () => {
  it("pinned host key: runs the empty command, sends stdin, returns stdout", async () => {
    behaviour = (input) => ({ stdout: Buffer.concat([Buffer.from("echo:"), input]), stderr: "warning: x\n", exit: 0 });
    const before = host.commands.length;
    const res = await call();
    expect(res.stdout.toString()).toBe('echo:{"request":1}');
    expect(res.stderr).toBe("warning: x");
    expect(host.commands.slice(before)).toEqual([""]);
    expect(host.refusedRequests).toEqual([]);
  });

  it("large request arrives intact", async () => {
    behaviour = (input) => ({ stdout: String(input.length), exit: 0 });
    const res = await call({ input: Buffer.alloc(300_000, 0x61) });
    expect(res.stdout.toString()).toBe("300000");
  });

  it("unknown host is refused before authentication, handler never runs", async () => {
    const before = host.inputs.length;
    const err = await rejection(call({ knownHosts: [...parseKnownHosts(`elsewhere ${hostKey.publicLine}`).entries] }));
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).verdict).toBe("unknown");
    expect((err as HostKeyError).exitCode).toBe(ExitCode.Denied);
    expect(err.message).toMatch(new RegExp(`host \\[127\\.0\\.0\\.1\\]:${host.port} \\(key ssh-ed25519 SHA256:`));
    expect(err.message).toContain("/test/known_hosts");
    expect(host.inputs.length).toBe(before);
  });

  it("changed host key is refused (mismatch)", async () => {
    const kh = [...parseKnownHosts(`[127.0.0.1]:${host.port} ${otherHostKey.publicLine}`).entries];
    const err = await rejection(call({ knownHosts: kh }));
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).verdict).toBe("mismatch");
  });

  it("revoked host key is refused even when another line trusts it", async () => {
    const kh = [
      ...parseKnownHosts(`[127.0.0.1]:${host.port} ${hostKey.publicLine}\n@revoked * ${hostKey.publicLine}`).entries,
    ];
    const err = await rejection(call({ knownHosts: kh }));
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).verdict).toBe("revoked");
    expect(err.message).toMatch(/marked @revoked/);
  });

  it("wrong client key is refused by the host", async () => {
    const err = await rejection(call({ auth: await loadIdentity(strangerKey.path) }));
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).exitCode).toBe(ExitCode.Denied);
    expect(err.message).toContain("refused our SSH key");
  });

  it("unknown user is refused by the host", async () => {
    const err = await rejection(call({ user: "nobody-here" }));
    expect(err).toBeInstanceOf(AuthenticationError);
  });

  it("remote failure: exit code and first stderr line are propagated, control characters removed", async () => {
    behaviour = () => ({ stderr: "\n\x1b[31merror: request field version is missing\x1b[0m\nsecond line\n", exit: 3 });
    const err = await rejection(call());
    expect(err).toBeInstanceOf(RemoteError);
    const r = err as RemoteError;
    expect(r.remoteExitCode).toBe(3);
    expect(r.remoteMessage).toBe("[31merror: request field version is missing[0m");
    expect(r.exitCode).toBe(ExitCode.Remote);
    expect(r.message).toContain("exit code 3");
    expect(r.message).not.toContain("\x1b");
    expect(r.message).not.toContain("second line");
  });

  it("remote success with stdout but no exit status is an unclean exit", async () => {
    behaviour = () => ({ stdout: "{}", exit: "none" });
    const err = await rejection(call());
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).remoteExitCode).toBeNull();
    expect(err.message).toMatch(/did not exit cleanly/);
  });

  it("a host that never exits is cut off by the overall timeout", async () => {
    behaviour = () => ({ exit: "hang" });
    const t0 = Date.now();
    const err = await rejection(call({ timeoutMs: 1500 }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/no complete answer within 2 s/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400); // not before the deadline
  });

  it("aborting (Ctrl-C in the CLI) closes the connection at once with the abort reason", async () => {
    behaviour = () => ({ exit: "hang" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("interrupted by test")), 300);
    // The overall timeout (10 s) would end it with another message: this one is the abort's own reason.
    const err = await rejection(call({ signal: controller.signal }));
    expect(err.message).toBe("interrupted by test");
  });

  it("oversized stdout is refused", async () => {
    behaviour = () => ({ stdout: Buffer.alloc(200_000, 0x41), exit: 0 });
    const err = await rejection(call({ maxStdoutBytes: 64 * 1024 }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/larger than 65536 bytes/);
  });

  it("stderr is bounded", async () => {
    behaviour = () => ({ stderr: "x".repeat(100_000), exit: 9 });
    const err = (await rejection(call())) as RemoteError;
    expect(err.remoteExitCode).toBe(9);
    expect(err.remoteMessage.length).toBeLessThanOrEqual(301);
  });
});

describe("ssh transport: connection failures", () => {
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts TCP and never says anything: the SSH handshake can not complete.
    silent = createServer((s) => {
      sockets.push(s);
      s.on("error", () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  it("a silent peer is cut off by readyTimeout", async () => {
    const port = (silent.address() as { port: number }).port;
    const err = await rejection(call({ port, readyTimeoutMs: 1000, knownHosts: [] }));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/no SSH session within 1 s/);
  });

  it("connection refused", async () => {
    // A socket bound to the port that never listens, held for the whole test: connecting is refused and nobody
    // else can take the port meanwhile (Node cannot bind without listening, so a tiny python3 helper does).
    const holder = spawn("python3", ["-c", "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        holder.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(Number(out.trim()));
        });
        holder.on("error", reject);
        holder.on("exit", (code) => reject(new Error(`the port holder (python3) exited with ${code} before binding`)));
      });
      const err = await rejection(call({ port }));
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err.message).toMatch(/cannot connect: .*ECONNREFUSED/);
    } finally {
      holder.kill("SIGKILL");
    }
  });
});

describe("identities", () => {
  it("refuses a passphrase-protected key and points to the agent", async () => {
    const k = makeKey(dir, "encrypted", "ed25519", "correct horse battery");
    const err = await rejection(loadIdentity(k.path));
    expect(err).toBeInstanceOf(ClientConfigError);
    expect(err.message).toMatch(/passphrase-protected; load it into ssh-agent \(ssh-add\) and use --agent/);
    expect(err.message).not.toContain("correct horse");
  });

  it("refuses a key readable by others", async () => {
    const k = makeKey(dir, "loose");
    chmodSync(k.path, 0o644);
    await expect(loadIdentity(k.path)).rejects.toThrow(/accessible by others \(mode 0644\)/);
  });

  it("says a .pub file holds no private key before anything about its mode (issue 12.8)", async () => {
    const k = makeKey(dir, "pubfirst");
    chmodSync(`${k.path}.pub`, 0o644); // as ssh-keygen writes it
    const err = await rejection(loadIdentity(`${k.path}.pub`));
    expect(err.message).toBe(`identity file ${k.path}.pub holds no private key (it is a public key; give ${k.path})`);
  });

  it("refuses a public key and garbage", async () => {
    const k = makeKey(dir, "pubonly");
    chmodSync(`${k.path}.pub`, 0o600); // so the mode check cannot be what refuses it
    await expect(loadIdentity(`${k.path}.pub`)).rejects.toThrow(/holds no private key/);
    const g = join(dir, "garbage");
    writeFileSync(g, "not a key\n", { mode: 0o600 });
    await expect(loadIdentity(g)).rejects.toThrow(/is not a supported SSH private key/);
    await expect(loadIdentity(join(dir, "absent"))).rejects.toThrow(/cannot be opened: no such file/);
  });

  it("accepts ECDSA and RSA identities", async () => {
    for (const t of ["ecdsa", "rsa"] as const) {
      const k = makeKey(dir, `id-${t}`, t);
      expect((await loadIdentity(k.path)).kind).toBe("identity");
    }
  });

  it("agent: needs SSH_AUTH_SOCK to be a socket", async () => {
    await expect(agentAuth(undefined, {})).rejects.toThrow(/SSH_AUTH_SOCK is not set/);
    await expect(agentAuth(undefined, { SSH_AUTH_SOCK: join(dir, "nope") })).rejects.toThrow(/no such file/);
    await expect(agentAuth(clientKey.path, {})).rejects.toThrow(/is not a socket/);
  });

  describe("through a real ssh-agent", () => {
    let agent: ChildProcess;
    const sock = join(dir, "agent.sock");
    beforeAll(async () => {
      agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      // A passphrase-protected key (refused by --identity) loaded into the agent through an askpass helper.
      const enc = makeKey(dir, "agent-key", "ed25519", "agent pass");
      const askpass = join(dir, "askpass.sh");
      writeFileSync(askpass, "#!/bin/sh\necho 'agent pass'\n", { mode: 0o700 });
      execFileSync("ssh-add", ["-q", enc.path], {
        env: { ...process.env, SSH_AUTH_SOCK: sock, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" },
        stdio: ["ignore", "ignore", "pipe"],
      });
      await host.close();
      host = await startFakeHost({
        hostKey: hostKey.privateKey,
        users: { signer: clientKey.publicLine, agentuser: enc.publicLine },
        handler: (input, user) => behaviour(input, user),
      });
    });
    afterAll(() => {
      agent.kill("SIGTERM");
    });

    it("authenticates with a key held by the agent", async () => {
      behaviour = (_input, user) => ({ stdout: `hello ${user}`, exit: 0 });
      const res = await call({ user: "agentuser", auth: await agentAuth(undefined, { SSH_AUTH_SOCK: sock }) });
      expect(res.stdout.toString()).toBe("hello agentuser");
    });

    it("the agent's keys are refused for a user that does not have them", async () => {
      const err = await rejection(call({ user: "signer", auth: await agentAuth(sock, {}) }));
      expect(err).toBeInstanceOf(AuthenticationError);
      expect(err.message).toContain(`keys of ssh-agent ${sock}`);
    });
  });
});

describe("remoteMessage", () => {
  it("takes the first non-empty line and cuts it", () => {
    expect(remoteMessage("\n  \nfirst\nsecond")).toBe("first");
    expect(remoteMessage("")).toBe("");
    expect(remoteMessage("a".repeat(400))).toHaveLength(301);
  });
});
