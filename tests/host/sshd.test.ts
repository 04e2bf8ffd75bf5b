// A real sshd on 127.0.0.1 configured only from configure-build --root output, real test users, OpenSSH ssh.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configureBuild } from "../../lib/host/configure-build.js";
import { generateSshKey, runSsh, startSshd, type Sshd, type SshKey } from "../support/sshd.js";
import { TestUsers, type TestUser } from "../support/users.js";
import { hostConfig } from "./fixtures.js";

const users = new TestUsers();
let root: string;
let sshd: Sshd | undefined;
let signer: TestUser;
let backup: TestUser;
let signerKey: SshKey;
let backupKey: SshKey;

// The stand-in ForceCommand: says who runs it, which command the client asked for (and which it ignores), and
// whether it has a terminal.
const SCRIPT = `#!/bin/sh
printf 'hello %s from %s\\n' "$USER" "$(basename "$0")"
printf 'original=%s\\n' "\${SSH_ORIGINAL_COMMAND-}"
if [ -t 0 ] || [ -t 1 ]; then echo tty=yes; else echo tty=no; fi
`;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-sshd-test-"));
  await chmod(root, 0o755);
  const bin = join(root, "bin");
  await mkdir(bin, { mode: 0o755 });
  for (const name of ["signstar-download-signature", "signstar-download-backup"]) {
    await writeFile(join(bin, name), SCRIPT, { mode: 0o755 });
  }
  const keys = join(root, "keys");
  await mkdir(keys, { mode: 0o700 });
  signerKey = await generateSshKey(keys, "signer");
  backupKey = await generateSshKey(keys, "backup");
  const home = (s: string): string => join(root, "var/lib/signstar/home", users.name(s));
  signer = await users.add("signer", { home: home("signer"), createHome: true });
  backup = await users.add("backup", { home: home("backup"), createHome: true });
  const lines: string[] = [];
  await configureBuild({
    config: hostConfig({ signer: { name: signer.name, key: signerKey.publicKey }, backup: { name: backup.name, key: backupKey.publicKey } }),
    root,
    // sshd reads the tree where it is rendered, so its files name the paths below root.
    inPlace: true,
    binDir: bin,
    out: (l) => lines.push(l),
  });
  sshd = await startSshd({ includes: [join(root, "etc/ssh/sshd_config.d/*.conf")], allowUsers: [signer.name, backup.name] });
});

afterAll(async () => {
  await sshd?.stop();
  await users.removeAll();
  await rm(root, { recursive: true, force: true });
});

function server(): Sshd {
  if (!sshd) throw new Error("sshd not started");
  return sshd;
}

describe("sshd with configure-build drop-ins", () => {
  it("runs the role's ForceCommand as the user, with no terminal", async () => {
    const r = await runSsh({ sshd: server(), user: signer.name, identity: signerKey.privateKeyFile });
    expect(r.stdout).toBe(`hello ${signer.name} from signstar-download-signature\noriginal=\ntty=no\n`);
    expect(r.code).toBe(0);
    const b = await runSsh({ sshd: server(), user: backup.name, identity: backupKey.privateKeyFile });
    expect(b.stdout.split("\n")[0]).toBe(`hello ${backup.name} from signstar-download-backup`);
  });

  it("ignores the command the client asks for", async () => {
    const r = await runSsh({ sshd: server(), user: signer.name, identity: signerKey.privateKeyFile, command: ["cat", "/etc/shadow;", "id"] });
    expect(r.stdout).toBe(`hello ${signer.name} from signstar-download-signature\noriginal=cat /etc/shadow; id\ntty=no\n`);
    expect(r.code).toBe(0);
  });

  it("gives no pty even when the client forces one (ssh -tt)", async () => {
    const r = await runSsh({ sshd: server(), user: signer.name, identity: signerKey.privateKeyFile, sshArgs: ["-tt", "-o", "LogLevel=INFO"] });
    expect(r.stderr).toContain("PTY allocation request failed");
    expect(r.code).toBe(255); // OpenSSH's client gives up when a forced pty is refused
    expect(r.stdout).not.toContain("tty=yes");
  });

  it("refuses TCP forwarding: stdio forward (-W), local (-L) and remote (-R)", async () => {
    // A target that records every connection: nothing may ever reach it through sshd.
    const reached: string[] = [];
    const target = createServer((s) => {
      reached.push(String(s.remotePort));
      s.end("TARGET\n");
    });
    await new Promise<void>((r) => target.listen(0, "127.0.0.1", () => r()));
    const address = target.address();
    const targetPort = typeof address === "object" && address ? address.port : 0;
    try {
      const w = await runSsh({ sshd: server(), user: signer.name, identity: signerKey.privateKeyFile, sshArgs: ["-W", `127.0.0.1:${targetPort}`] });
      expect(w.code).toBe(255);
      expect(w.stderr).toMatch(/stdio forwarding failed/);
      expect(w.stdout).toBe("");

      const r = await runSsh({
        sshd: server(),
        user: signer.name,
        identity: signerKey.privateKeyFile,
        sshArgs: ["-N", "-o", "ExitOnForwardFailure=yes", "-R", `0:127.0.0.1:${targetPort}`],
      });
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/remote port forwarding failed/);

      // -L: the client listens locally (on a Unix socket in our own directory, so no port can clash); a
      // connection through it must not reach the target.
      const localSocket = join(root, "fwd.sock");
      const child = spawn("ssh", [
        "-F", "/dev/null", "-p", String(server().port), "-i", signerKey.privateKeyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", `UserKnownHostsFile=${server().knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "ExitOnForwardFailure=yes", "-N",
        "-L", `${localSocket}:127.0.0.1:${targetPort}`, `${signer.name}@127.0.0.1`,
      ], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      try {
        let received: string | undefined;
        for (let i = 0; i < 100 && received === undefined; i++) {
          received = await new Promise<string | undefined>((resolve) => {
            const s = connect({ path: localSocket });
            let data = "";
            let connected = false;
            s.on("connect", () => (connected = true));
            s.on("data", (c: Buffer) => (data += c.toString("latin1")));
            s.on("error", () => resolve(connected ? data : undefined));
            s.on("close", () => resolve(connected ? data : undefined));
            s.setTimeout(2000, () => s.destroy());
          });
          if (received === undefined) await new Promise((r) => setTimeout(r, 100));
        }
        expect(received).toBe(""); // the client accepted locally, then sshd refused the channel
        for (let i = 0; i < 50 && !stderr.includes("prohibited"); i++) await new Promise((r) => setTimeout(r, 100));
        expect(stderr).toMatch(/open failed: administratively prohibited/);
      } finally {
        child.kill("SIGTERM");
      }
      expect(reached).toEqual([]);
      expect(await server().log()).toMatch(new RegExp(`refused local port forward: originator 127\\.0\\.0\\.1 port \\d+, target 127\\.0\\.0\\.1 port ${targetPort}`));
    } finally {
      target.close();
    }
  });

  it("accepts only the user's own key", async () => {
    const r = await runSsh({ sshd: server(), user: signer.name, identity: backupKey.privateKeyFile });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(r.stdout).toBe("");
  });
});

describe("the restrict option on its own", () => {
  it("denies a pty and forwarding even where sshd_config would allow them", async () => {
    // A second sshd with a permissive Match block, using the authorized_keys file configure-build rendered.
    const open = (keysFile: string): string =>
      `Match User ${signer.name}\n    AuthorizedKeysFile ${keysFile}\n    ForceCommand ${join(root, "bin/signstar-download-signature")}\n    PermitTTY yes\n    AllowTcpForwarding yes\n`;
    const rendered = join(root, `etc/ssh/signstar-user-${signer.name}.authorized_keys`);
    const plain = join(root, "plain.authorized_keys");
    await writeFile(plain, `${signerKey.publicKey}\n`, { mode: 0o644 });
    for (const [keysFile, tty] of [
      [rendered, "tty=no"],
      [plain, "tty=yes"], // control: the same sshd without restrict hands out a pty
    ] as const) {
      const permissive = await startSshd({ allowUsers: [signer.name], extraConfig: open(keysFile) });
      try {
        const r = await runSsh({ sshd: permissive, user: signer.name, identity: signerKey.privateKeyFile, sshArgs: ["-tt"] });
        if (tty === "tty=yes") expect(r.stdout.replace(/\r/g, "")).toContain("tty=yes\n");
        else {
          expect(r.stderr).toContain("PTY allocation request failed");
          expect(r.stdout).not.toContain("tty=yes");
        }
        const w = await runSsh({ sshd: permissive, user: signer.name, identity: signerKey.privateKeyFile, sshArgs: ["-W", `127.0.0.1:${permissive.port}`] });
        if (tty === "tty=no") expect(w.code).toBe(255);
        else expect(w.stdout).toMatch(/^SSH-2\.0-/); // forwarding works without restrict
      } finally {
        await permissive.stop();
      }
    }
  });
});
