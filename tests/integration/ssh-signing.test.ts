/**
 * Signing over real OpenSSH, end to end: real sshd with drop-ins rendered by signstar-configure-build, real
 * Unix users, a real SoftHSM token; requests made by our client library and by OpenSSH `ssh`; signatures
 * checked by gpg, sq and sqop against the original file.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendSigningRequest } from "../../lib/client/request-signature.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { armor, dearmor } from "../../lib/signing/openpgp/armor.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { parseSigningResponse } from "../../lib/signing/response.js";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";
import { readSignatureCounters } from "../../lib/metrics/signature-counters.js";
import { changePkcs11UserPin } from "../../lib/backends/pkcs11/index.js";
import { NetHsmClient } from "../../lib/backends/nethsm/index.js";
import { httpsUrl } from "../../lib/config/primitives.js";
import { exitCodeOf, run as runProcess, type RunResult } from "../support/run.js";
import { runSsh } from "../support/sshd.js";
import { NETHSM_ADMIN_PASSPHRASE, operatorPassphrase, startSigningHost, type HostSigner, type SigningHost } from "../support/signing-host.js";

const exec = promisify(execFile);

let host: SigningHost;
let work: string;

beforeAll(async () => {
  host = await startSigningHost({ signers: ["ed25519", "p256", "rsa2048"], nethsmSigners: ["ed25519", "p256", "p384", "p521", "rsa2048"] });
  work = await mkdtemp(join(tmpdir(), "signstar-e2e-"));
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function signer(kind: HostSigner["kind"], backend: HostSigner["backend"] = "pkcs11"): HostSigner {
  const s = host.signers.find((x) => x.kind === kind && x.backend === backend);
  if (!s) throw new Error(kind);
  return s;
}

async function requestFor(file: string): Promise<string> {
  return createSigningRequest(await hashFile(file), { "file-name": "payload" });
}

/** Runs a verifier; resolves to its exit code. */
const run = exitCodeOf;

async function verifyAll(certFile: string, sigFile: string, dataFile: string): Promise<{ gpg: number; sq: number; sqop: number }> {
  const gnupg = await mkdtemp(join(tmpdir(), "signstar-gpg-"));
  try {
    const env = { ...process.env, GNUPGHOME: gnupg };
    await exec("gpg", ["--batch", "--quiet", "--import", certFile], { env });
    const gpg = await run("gpg", ["--batch", "--quiet", "--verify", sigFile, dataFile], env);
    const sq = await run("sq", ["verify", "--signer-cert", certFile, "--detached", sigFile, dataFile]);
    const sqop = await run("sh", ["-c", `sqop verify "$1" "$2" < "$3"`, "sh", sigFile, certFile, dataFile]);
    return { gpg, sq, sqop };
  } finally {
    await run("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"]);
    await rm(gnupg, { recursive: true, force: true });
  }
}

async function payload(name: string, size: number): Promise<string> {
  const file = join(work, name);
  await writeFile(file, randomBytes(size));
  return file;
}

const CASES = [
  ["pkcs11", "ed25519"], ["pkcs11", "p256"], ["pkcs11", "rsa2048"],
  ["nethsm", "ed25519"], ["nethsm", "p256"], ["nethsm", "p384"], ["nethsm", "p521"], ["nethsm", "rsa2048"],
] as const;

describe("signing through OpenSSH ssh", () => {
  for (const [backend, kind] of CASES) {
    it(`${backend} ${kind}: the response carries a signature that gpg, sq and sqop accept, and reject for a changed file`, async () => {
      const s = signer(kind, backend);
      const file = await payload(`ssh-${backend}-${kind}.bin`, 200_000 + kind.length);
      const result = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: await requestFor(file) });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const response = parseSigningResponse(result.stdout);
      expect(response.version).toBe("1.0.0");
      const sigFile = `${file}.asc`;
      await writeFile(sigFile, response.signature + "\n");
      expect(await verifyAll(s.certificateFile, sigFile, file)).toEqual({ gpg: 0, sq: 0, sqop: 0 });

      const tampered = await payload(`ssh-${backend}-${kind}-tampered.bin`, 0);
      const original = await readFile(file);
      original[1000] = original[1000]! ^ 1;
      await writeFile(tampered, original);
      const verdict = await verifyAll(s.certificateFile, sigFile, tampered);
      expect(verdict.gpg).not.toBe(0);
      expect(verdict.sq).not.toBe(0);
      expect(verdict.sqop).not.toBe(0);
    });
  }

  it("writes an audit entry with user, key, digest and outcome to the system log", async () => {
    const s = signer("ed25519");
    const file = await payload("audit.bin", 1234);
    const digest = (await hashFile(file)).digest();
    const result = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: await requestFor(file) });
    expect(result.code).toBe(0);
    const hex = Buffer.from(digest).toString("hex");
    const entry = await host.syslog.waitFor(new RegExp(hex));
    expect(entry).toContain(`user="${s.user}"`);
    expect(entry).toContain('key="pkcs11:token(label=signstar):key(label=ed25519-key)"');
    expect(entry).toContain('outcome="ok"');
  });

  it("counts issued and refused signatures per user and key for the metrics export", async () => {
    const s = signer("ed25519");
    const key = "pkcs11:token(label=signstar):key(label=ed25519-key)";
    const secret = secretFilePath({ systemUser: s.user, backendUser: "pkcs11-token-label-signstar", handling: "plaintext" });
    const uid = (await stat(secret)).uid;
    // Read as the metrics export does: only a file owned by the user it is named after counts.
    const counts = async (): Promise<{ ok: number; error: number }> => {
      const c = (await readSignatureCounters(host.countersDir, s.user, uid))[key];
      return { ok: c?.ok ?? 0, error: c?.error ?? 0 };
    };
    const before = await counts();
    const file = await payload("counters.bin", 321);
    const ok = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: await requestFor(file) });
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    // A refusal after the key is known (its secret file is readable by others) counts as an error …
    await chmod(secret, 0o644);
    try {
      const refused = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: await requestFor(file) });
      expect(refused.code).toBe(6);
    } finally {
      await chmod(secret, 0o600);
    }
    // … one before it (a malformed request: no key yet) is not counted.
    const malformed = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: "{" });
    expect(malformed.code).toBe(3);
    expect(await counts()).toEqual({ ok: before.ok + 1, error: before.error + 1 });
    // The counters belong to the signing user: read for another uid, they are not there.
    expect(await readSignatureCounters(host.countersDir, s.user, 0)).toEqual({});
  });

  it("ignores the command the client asks for and still only signs", async () => {
    const s = signer("p256");
    const file = await payload("cmd.bin", 10);
    const result = await runSsh({
      sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, command: ["cat", "/etc/shadow"], input: await requestFor(file),
    });
    expect(result.code).toBe(0);
    expect(dearmor(parseSigningResponse(result.stdout).signature).type).toBe("SIGNATURE");
  });
});

describe("signing through our client (ssh2)", () => {
  it.each(["pkcs11", "nethsm"] as const)("%s: writes FILE.sig that gpg, sq and sqop accept", async (backend) => {
    const s = signer("ed25519", backend);
    const file = await payload(`client-${backend}.bin`, 3 * 1024 * 1024 + 7);
    await sendSigningRequest({
      host: host.sshd.host,
      port: host.sshd.port,
      user: s.user,
      identity: s.sshKey.privateKeyFile,
      knownHostsPath: host.sshd.knownHosts,
      file,
    });
    const sig = await readFile(`${file}.sig`);
    expect(sig[0]! & 0x3f).toBeGreaterThan(0); // binary packet, not armor text
    const armoredFile = `${file}.asc`;
    await writeFile(armoredFile, armor("SIGNATURE", sig));
    expect(await verifyAll(s.certificateFile, `${file}.sig`, file)).toEqual({ gpg: 0, sq: 0, sqop: 0 });
  });
});

describe("refusals: one line on stderr, nothing on stdout, nothing changed", () => {
  async function expectRefused(user: string, identity: string, input: string | Uint8Array, code: number, message: RegExp) {
    const result = await runSsh({ sshd: host.sshd, user, identity, input });
    expect(result.stdout).toBe("");
    expect(result.code).toBe(code);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    return result;
  }

  it("a malformed request", async () => {
    const s = signer("ed25519");
    await expectRefused(s.user, s.sshKey.privateKeyFile, '{"version":"1.0.0","required":', 3, /^signstar-download-signature: .*JSON/i);
  });

  it("an oversized request", async () => {
    const s = signer("ed25519");
    await expectRefused(s.user, s.sshKey.privateKeyFile, "x".repeat(200_000), 3, /larger than 65536 bytes/);
  });

  it("a request with an unknown field", async () => {
    const s = signer("ed25519");
    const file = await payload("unknown.bin", 5);
    const req = JSON.parse(await requestFor(file)) as Record<string, unknown>;
    req["extra outcome=ok key=forged"] = 1;
    await expectRefused(s.user, s.sshKey.privateKeyFile, JSON.stringify(req), 3, /extra/);
    // The client-chosen text is quoted in the audit entry, so it cannot pose as further fields.
    const entry = await host.syslog.waitFor(/signature refused.*forged/);
    const [fields, reason] = [entry.slice(0, entry.indexOf(" reason=")), /outcome="error" reason=(".*")$/.exec(entry)?.[1]];
    expect(fields).not.toContain("forged");
    expect(JSON.parse(reason ?? "null")).toBe('request: unknown field "extra outcome=ok key=forged" (allowed at top level: version, required, optional)');
  });

  it("a user whose role is not signing gets no signature (its ForceCommand is its own tool)", async () => {
    const file = await payload("otherrole.bin", 5);
    const result = await runSsh({ sshd: host.sshd, user: host.otherRole.user, identity: host.otherRole.sshKey.privateKeyFile, input: await requestFor(file) });
    expect(result.stdout).toBe("");
    // Its ForceCommand, signstar-download-wireguard, ran instead (the host has no WireGuard key) and never read
    // the request.
    expect(result.stderr).toBe(
      `signstar-download-wireguard: the WireGuard public key ${host.env["SIGNSTAR_ROOT"]}/etc/signstar/wireguard/public.key does not exist (is signstar-wireguard-keygen.service enabled?)\n`,
    );
    expect(result.code).toBe(4); // ExitCode.Config
  });

  it("the signing tool run directly by a user without a signing mapping names the user", async () => {
    const file = await payload("unmapped.bin", 5);
    const request = await requestFor(file);
    const result = await runAs(host.otherRole.user, request);
    expect(result.stdout).toBe("");
    expect(result.code).toBe(5);
    expect(result.stderr).toBe(`signstar-download-signature: the user "${host.otherRole.user}" has no signing mapping in the configuration\n`);
  });

  it("root is refused", async () => {
    const file = await payload("root.bin", 5);
    const result = await runTool(await requestFor(file), {});
    expect(result.code).toBe(5);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/must not be run as root/);
  });

  it("a wrong SSH key is refused by sshd", async () => {
    const s = signer("ed25519");
    const other = host.otherRole.sshKey.privateKeyFile;
    const result = await runSsh({ sshd: host.sshd, user: s.user, identity: other, input: "{}" });
    expect(result.code).toBe(255);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/Permission denied/);
  });

  it("a secret file with mode 0644, and one owned by another user, are refused", async () => {
    const s = signer("p256");
    const path = secretFilePath({ systemUser: s.user, backendUser: "pkcs11-token-label-signstar", handling: "plaintext" });
    const before = await stat(path);
    const file = await payload("secretmode.bin", 5);
    try {
      await chmod(path, 0o644);
      await expectRefused(s.user, s.sshKey.privateKeyFile, await requestFor(file), 6, /permissions|mode/);
      await chmod(path, 0o600);
      await chown(path, 0, 0);
      await expectRefused(s.user, s.sshKey.privateKeyFile, await requestFor(file), 6, /not readable by uid|owner/);
    } finally {
      await chown(path, before.uid, before.gid);
      await chmod(path, 0o600);
    }
    const ok = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: await requestFor(file) });
    expect(ok.code).toBe(0);
  });

  it("a wrong PIN gives a backend error that names the token and not the PIN", async () => {
    const s = signer("rsa2048");
    const path = secretFilePath({ systemUser: s.user, backendUser: "pkcs11-token-label-signstar", handling: "plaintext" });
    const original = await readFile(path, "utf8");
    const file = await payload("wrongpin.bin", 5);
    try {
      await writeFile(path, "wrong-pin-000000");
      const result = await expectRefused(s.user, s.sshKey.privateKeyFile, await requestFor(file), 7, /signstar/);
      expect(result.stderr).not.toContain("wrong-pin-000000");
      expect(result.stderr).toMatch(/PIN/);
    } finally {
      await writeFile(path, original);
    }
  });

  it("a wrong NetHSM passphrase gives a backend error that names the user and not the passphrase", async () => {
    const s = signer("p521", "nethsm");
    const path = secretFilePath({ systemUser: s.user, backendUser: "opp521", handling: "plaintext" });
    const original = await readFile(path, "utf8");
    const file = await payload("wrongpass.bin", 5);
    try {
      await writeFile(path, "wrong-passphrase-000000");
      const result = await expectRefused(s.user, s.sshKey.privateKeyFile, await requestFor(file), 7, /opp521/);
      expect(result.stderr).not.toContain("wrong-passphrase-000000");
      expect(result.stderr).toMatch(/401/);
    } finally {
      await writeFile(path, original);
    }
  });

  it("a signer keeps signing while signstar-configure rotates its secret: the backend's new PIN is in <file>.next", async () => {
    const s = signer("p256");
    const path = secretFilePath({ systemUser: s.user, backendUser: "pkcs11-token-label-signstar", handling: "plaintext" });
    const oldPin = host.softhsm.token.userPin;
    const newPin = "rotated-pin-7654321";
    const file = await payload("rotation.bin", 99);
    const owner = await stat(path);
    await writeFile(`${path}.next`, newPin, { mode: 0o600 });
    await chown(`${path}.next`, owner.uid, owner.gid);
    await changePkcs11UserPin({ module: host.softhsm.module, token: { label: "signstar" }, oldPin, newPin });
    try {
      // State after step 2 of the rotation (backend changed, secret file not yet renamed): still signs.
      const result = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: await requestFor(file) });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      // Without the .next file the old PIN alone is refused: the fallback is what made the difference.
      await rm(`${path}.next`);
      const refused = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: await requestFor(file) });
      expect(refused.code).toBe(7);
    } finally {
      await changePkcs11UserPin({ module: host.softhsm.module, token: { label: "signstar" }, oldPin: newPin, newPin: oldPin });
      await rm(`${path}.next`, { force: true });
    }
  });

  it("the same for a NetHSM operator whose passphrase was rotated (after the device's 1 s login throttle)", async () => {
    const s = signer("p384", "nethsm");
    const path = secretFilePath({ systemUser: s.user, backendUser: "opp384", handling: "plaintext" });
    const owner = await stat(path);
    const rotated = "rotated-operator-passphrase";
    await writeFile(`${path}.next`, rotated, { mode: 0o600 });
    await chown(`${path}.next`, owner.uid, owner.gid);
    const admin = new NetHsmClient({ connections: [{ url: httpsUrl(host.standIn!.url), tlsSecurity: { kind: "Fingerprints", sha256: [host.standIn!.tls.fingerprint] } }], credentials: { user: "admin", passphrase: NETHSM_ADMIN_PASSPHRASE } });
    try {
      await admin.setUserPassphrase("opp384", rotated);
      const file = await payload("rotation-nethsm.bin", 99);
      const result = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: await requestFor(file) });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    } finally {
      await admin.setUserPassphrase("opp384", operatorPassphrase("opp384"));
      admin.close();
      await rm(`${path}.next`, { force: true });
    }
  });

  it("no TTY, no port forwarding", async () => {
    const s = signer("ed25519");
    const tty = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, sshArgs: ["-tt", "-o", "LogLevel=INFO"], command: ["tty"], input: "" });
    // sshd refuses the pty (no-pty in the drop-in); the client, forced by -tt, gives up (as tests/host/sshd.test.ts
    // shows for the bare drop-ins). With a pty the command's `tty` output would be on stdout.
    expect(tty.stderr.replace(/\r/g, "")).toBe("PTY allocation request failed on channel 0\n");
    expect(tty.code).toBe(255);
    expect(tty.stdout).toBe("");
    const forward = await runSsh({
      sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile,
      sshArgs: ["-o", "ExitOnForwardFailure=yes", "-W", `127.0.0.1:${host.sshd.port}`], input: "",
    });
    expect(forward.code).toBe(255);
    expect(forward.stdout).not.toContain("SSH-2.0");
  });
});

/** Runs the compiled tool in-process-free, as `user` (real euid), with the host's environment. */
function runAs(user: string, input: string): Promise<RunResult> {
  return runTool(input, { user });
}

function runTool(input: string, opts: { user?: string }): Promise<RunResult> {
  const tool = join(host.binDir, "signstar-download-signature");
  const [cmd, args] = opts.user ? ["setpriv", ["--reuid", opts.user, "--regid", opts.user, "--init-groups", tool]] : [tool, []];
  return runProcess(cmd as string, args as string[], { env: { ...host.env, PATH: "/usr/bin:/bin" }, input });
}
