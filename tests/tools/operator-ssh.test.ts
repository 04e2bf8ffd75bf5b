/**
 * Every operator tool over real OpenSSH for its own role, output checked by a real consumer: the backup reader
 * and signstar-admin validate-backup, the NetHSM stand-in (restore, update), promtool, gpg, sq, wg.
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBackup, decryptBackup } from "../../lib/nethsm-backup/index.js";
import { ExitCode, SignstarError } from "../../lib/errors.js";
import { writeNextSecret } from "../../lib/configure/secret-rotation.js";
import { lookupUser } from "../../lib/os/accounts.js";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";
import { dearmor } from "../../lib/signing/openpgp/armor.js";
import { readPackets } from "../../lib/signing/openpgp/packet.js";
import { takeUploadedBackup, takeUploadedUpdate, uploadsDirOf } from "../../lib/spool/uploads.js";
import { makeUpdateImage } from "../support/nethsm-standin/index.js";
import {
  BACKUP_PASSPHRASE, BACKUP_UPLOAD_MAX, UPDATE_UPLOAD_MAX, runAs, runBytes, sshBytes, startOperatorHost, type OperatorHost, type OperatorUser,
} from "../support/operator-host.js";
import { REPO_ROOT } from "../support/signing-host.js";

const exec = promisify(execFile);
let host: OperatorHost;
let work: string;

beforeAll(async () => {
  host = await startOperatorHost();
  work = await mkdtemp(join(tmpdir(), "signstar-optest-"));
}, 180_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const admin = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  runBytes(process.execPath, [join(REPO_ROOT, "dist/bin/signstar-admin.js"), ...args], { env });

async function spoolFiles(user: string): Promise<string[]> {
  return (await readdir(uploadsDirOf(user)).catch(() => [] as string[])).sort();
}

async function uid(user: string): Promise<number> {
  return (await lookupUser(user))!.uid;
}

describe("signstar-download-backup", () => {
  it("streams a backup that the backup reader parses and signstar-admin validate-backup decrypts", async () => {
    const r = await sshBytes({ sshd: host.sshd, user: host.u.backup });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.subarray(0, 15).toString("latin1")).toBe("_NETHSM_BACKUP_");
    const parsed = parseBackup(r.stdout);
    expect(parsed.version).toBe(1);
    const opened = await decryptBackup(parsed, { passphrase: BACKUP_PASSPHRASE });
    expect(opened.entries.some((e) => e.key.startsWith("/authentication/"))).toBe(true);

    const file = join(work, "download.bkp");
    await writeFile(file, r.stdout);
    await writeFile(join(work, "pass"), BACKUP_PASSPHRASE);
    const ok = await admin(["validate-backup", "--passphrase-file", join(work, "pass"), file]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout.toString()).toMatch(/NetHSM backup version 1, \d+ items; decrypts with the passphrase; \d+ entries; device /);

    await writeFile(join(work, "pass-nl"), `${BACKUP_PASSPHRASE}\n`);
    const nl = await admin(["validate-backup", "--passphrase-file", join(work, "pass-nl"), file]);
    expect(nl.code).toBe(3);
    expect(nl.stdout.length).toBe(0);
    expect(nl.stderr).toContain("ends with a newline");
    expect(nl.stderr).not.toContain(BACKUP_PASSPHRASE);

    const structural = await admin(["validate-backup", file]);
    expect(structural.code).toBe(0);
    expect(structural.stdout.toString()).toContain("structure valid");
    await writeFile(join(work, "cut.bkp"), r.stdout.subarray(0, r.stdout.length - 5));
    const cut = await admin(["validate-backup", join(work, "cut.bkp")]);
    expect(cut.code).toBe(3);
    expect(cut.stderr).toContain("truncated");
  });

  it("writes nothing to stdout when the NetHSM refuses the backup user's credentials", async () => {
    const a = host.admin();
    await a.setUserPassphrase("backup1", "another-passphrase-0123456789");
    try {
      const r = await sshBytes({ sshd: host.sshd, user: host.u.backup });
      expect(r.code).toBe(7);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toMatch(/^signstar-download-backup: .*401/);
    } finally {
      await a.setUserPassphrase("backup1", "backup1-passphrase-0123456789");
    }
  });
});

describe("signstar-upload-backup", () => {
  it("stores a valid backup atomically; configure takes it and the stand-in restores it", async () => {
    const backup = (await sshBytes({ sshd: host.sshd, user: host.u.backup })).stdout;
    const r = await sshBytes({ sshd: host.sshd, user: host.u.backupUpload, input: backup });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const receipt = JSON.parse(r.stdout.toString()) as { stored: string; bytes: number; sha256: string; version: number };
    const sha = createHash("sha256").update(backup).digest("hex");
    expect(receipt).toMatchObject({ stored: "backup", bytes: backup.length, sha256: sha, version: 1 });
    expect(await spoolFiles(host.u.backupUpload.user)).toEqual(["backup.bin"]);
    const st = await stat(join(uploadsDirOf(host.u.backupUpload.user), "backup.bin"));
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(await uid(host.u.backupUpload.user));

    // takeUploaded refuses a user whose uid does not own the file, and leaves the file in place.
    const owner = await uid(host.u.backupUpload.user);
    const wrong = await takeUploadedBackup({ users: [{ name: host.u.backupUpload.user, uid: owner + 1 }] }).then(
      () => undefined,
      (e: unknown) => e as SignstarError,
    );
    expect(wrong).toBeInstanceOf(SignstarError);
    expect(wrong?.message).toBe(`the uploaded backup ${join(uploadsDirOf(host.u.backupUpload.user), "backup.bin")} is not owned by "${host.u.backupUpload.user}"`);
    expect(wrong?.exitCode).toBe(ExitCode.BadInput);
    expect(await spoolFiles(host.u.backupUpload.user)).toEqual(["backup.bin"]);

    const taken = await takeUploadedBackup({ users: [{ name: host.u.backupUpload.user, uid: owner }] });
    expect(taken?.sha256).toBe(sha);
    // The real consumer: a partial restore on the Operational stand-in accepts the uploaded bytes.
    await host.admin().restore(taken!.bytes, { backupPassphrase: BACKUP_PASSPHRASE });
    await taken!.consume();
    expect(await spoolFiles(host.u.backupUpload.user)).toEqual([]);
    expect(await takeUploadedBackup({ users: [{ name: host.u.backupUpload.user, uid: owner }] })).toBeUndefined();
  });

  it("rejects malformed, truncated and oversized uploads without leaving any file", async () => {
    const backup = (await sshBytes({ sshd: host.sshd, user: host.u.backup })).stdout;
    const cases: [string, Buffer, RegExp][] = [
      ["garbage", Buffer.from("hello, this is not a backup\n"), /bad magic/],
      ["truncated", backup.subarray(0, backup.length - 10), /truncated/],
      ["oversized", Buffer.concat([backup, Buffer.alloc(BACKUP_UPLOAD_MAX)]), new RegExp(`larger than ${BACKUP_UPLOAD_MAX} bytes`)],
      ["empty", Buffer.alloc(0), /bad magic/],
    ];
    for (const [, input, message] of cases) {
      const r = await sshBytes({ sshd: host.sshd, user: host.u.backupUpload, input });
      expect(r.code).toBe(3);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr).toMatch(message);
      expect(await spoolFiles(host.u.backupUpload.user)).toEqual([]);
    }
    const entry = await host.syslog.waitFor(/backup upload refused: .*larger than/);
    expect(entry).toContain(`user="${host.u.backupUpload.user}"`);
  });
});

describe("signstar-upload-update", () => {
  it("stores a valid image that the stand-in accepts; rejects malformed and oversized ones without files", async () => {
    const image = makeUpdateImage(host.updateKey, "Signstar test release", "4.1", Buffer.alloc(512 * 8, 7));
    const r = await sshBytes({ sshd: host.sshd, user: host.u.updateUpload, input: image });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ stored: "update", bytes: image.length, version: "4.1", blocks: 8 });
    const taken = await takeUploadedUpdate({ users: [{ name: host.u.updateUpload.user, uid: await uid(host.u.updateUpload.user) }] });
    expect(taken?.info.version).toBe("4.1");
    const a = host.admin();
    expect(await a.uploadUpdate(taken!.bytes)).toBe("Signstar test release");
    await a.cancelUpdate();
    await taken!.consume();

    const bad: [Buffer, RegExp][] = [
      [image.subarray(0, image.length - 512), /announces 8 blocks/],
      [Buffer.from("_NETHSM_BACKUP_\x01"), /not a NetHSM update image/],
      [Buffer.concat([image, Buffer.alloc(UPDATE_UPLOAD_MAX)]), new RegExp(`larger than ${UPDATE_UPLOAD_MAX} bytes`)],
    ];
    for (const [input, message] of bad) {
      const x = await sshBytes({ sshd: host.sshd, user: host.u.updateUpload, input });
      expect(x.code).toBe(3);
      expect(x.stdout.length).toBe(0);
      expect(x.stderr).toMatch(message);
      expect(await spoolFiles(host.u.updateUpload.user)).toEqual([]);
    }
  });
});

async function recordAs(user: string, key: string, outcome: "ok" | "error"): Promise<void> {
  const module = join(REPO_ROOT, "dist/lib/metrics/signature-counters.js");
  const script = `import(${JSON.stringify(module)}).then(async (m) => { const ok = await m.recordSignatureOutcome({ dir: process.argv[1], user: process.argv[2], uid: process.getuid(), key: process.argv[3], outcome: process.argv[4], now: new Date() }); process.exit(ok ? 0 : 1); })`;
  await exec("setpriv", [`--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", process.execPath, "-e", script, host.counterDir, user, key, outcome]);
}

function promtool(text: string | Buffer): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    child.on("close", (code) => resolve({ code, out }));
    child.stdin.end(text);
  });
}

describe("signstar-download-metrics", () => {
  it("exports device, key, token and host metrics that promtool accepts", async () => {
    const signer = host.u.signer.user;
    const pkcs11Key = "pkcs11:token(label=signstar):key(label=ed25519-key)";
    await recordAs(signer, pkcs11Key, "ok");
    await recordAs(signer, pkcs11Key, "ok");
    await recordAs(signer, pkcs11Key, "error");
    await recordAs(host.u.nethsmSigner.user, "nethsm:signkey1", "ok");

    const r = await sshBytes({ sshd: host.sshd, user: host.u.metrics });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    const check = await promtool(text);
    expect(check.out).toBe("");
    expect(check.code).toBe(0);
    expect(text).toMatch(/^signstar_nethsm_uptime_seconds \d+$/m);
    expect(text).toMatch(/^signstar_nethsm_http_responses_total\{code="200"\} \d+$/m);
    expect(text).toContain('signstar_source_up{backend_user="metrics1",source="nethsm_device"} 1');
    expect(text).toMatch(/^signstar_nethsm_key_operations_total\{key="signkey1",namespace=""\} \d+$/m);
    expect(text).toContain('signstar_nethsm_key_info{key="signkey1",mechanisms="EdDSA_Signature",namespace="",tags="signing1",type="Curve25519"} 1');
    expect(text).toContain('signstar_pkcs11_token_public_keys{token="signstar"} 1');
    expect(text).toContain('signstar_pkcs11_token_certificates{token="signstar"} 1');
    expect(text).toContain(`signstar_signatures_total{key="${pkcs11Key}",outcome="ok",user="${signer}"} 2`);
    expect(text).toContain(`signstar_signatures_total{key="${pkcs11Key}",outcome="error",user="${signer}"} 1`);
    expect(text).toContain(`signstar_signatures_total{key="nethsm:signkey1",outcome="ok",user="${host.u.nethsmSigner.user}"} 1`);
    expect(text).toMatch(/^signstar_signature_last_success_timestamp_seconds\{key="pkcs11:token\(label=signstar\):key\(label=ed25519-key\)",user="[^"]+"\} \d{10}$/m);
  });

  it("marks a failing source down but still exports the rest", async () => {
    const a = host.admin();
    await a.setUserPassphrase("keymetrics1", "changed-passphrase-0123456789");
    try {
      const r = await sshBytes({ sshd: host.sshd, user: host.u.metrics });
      expect(r.code).toBe(0);
      const text = r.stdout.toString();
      expect((await promtool(text)).code).toBe(0);
      expect(text).toContain('signstar_source_up{backend_user="keymetrics1",source="nethsm_keys"} 0');
      expect(text).toContain('signstar_source_up{backend_user="metrics1",source="nethsm_device"} 1');
      const entry = await host.syslog.waitFor(/metrics source failed: .*keymetrics1/);
      expect(entry).not.toContain("changed-passphrase");
    } finally {
      await a.setUserPassphrase("keymetrics1", "keymetrics1-passphrase-0123456789");
    }
  });

  it("hermetic metrics: signstar-admin write-hermetic-metrics writes a textfile promtool accepts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "signstar-textfile-"));
    try {
      const r = await admin(["write-hermetic-metrics", "--config", host.configFile, "--textfile-dir", dir], { ...process.env, ...host.env });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(await readdir(dir)).toEqual([`signstar-${host.u.hermetic.user}.prom`]);
      const file = join(dir, `signstar-${host.u.hermetic.user}.prom`);
      expect((await stat(file)).mode & 0o777).toBe(0o644);
      const text = await readFile(file, "utf8");
      expect((await promtool(text)).code).toBe(0);
      expect(text).toContain('signstar_source_up{backend_user="hmetrics1",source="nethsm_device"} 1');
      expect(text).toContain(`signstar_hermetic_metrics_success{user="${host.u.hermetic.user}"} 1`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("signstar-download-key-certificates", () => {
  it("returns an armored keyring of all signing keys that gpg and sq accept", async () => {
    const r = await sshBytes({ sshd: host.sshd, user: host.u.certs });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    expect(text.startsWith("-----BEGIN PGP PUBLIC KEY BLOCK-----")).toBe(true);
    const primaries = readPackets(dearmor(text).data).filter((p) => p.tag === 6);
    expect(primaries).toHaveLength(2);
    const ring = join(work, "keyring.asc");
    await writeFile(ring, text);
    const gnupg = await mkdtemp(join(tmpdir(), "signstar-gpg-"));
    try {
      const env = { ...process.env, GNUPGHOME: gnupg };
      await exec("gpg", ["--batch", "--quiet", "--import", ring], { env });
      const { stdout } = await exec("gpg", ["--batch", "--with-colons", "--list-keys"], { env });
      const uids = stdout.split("\n").filter((l) => l.startsWith("uid:")).map((l) => l.split(":")[9]);
      expect(uids.sort()).toEqual(["NetHSM signer <nethsm@signstar.test>", "PKCS#11 signer <pkcs11@signstar.test>"]);
    } finally {
      await exec("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"]).catch(() => undefined);
      await rm(gnupg, { recursive: true, force: true });
    }
    const { stdout: inspected } = await exec("sq", ["inspect", ring]);
    expect(inspected).toContain("NetHSM signer <nethsm@signstar.test>");
    expect(inspected).toContain("PKCS#11 signer <pkcs11@signstar.test>");

    const j = await sshBytes({ sshd: host.sshd, user: host.u.certs, command: ["json"] });
    expect(j.code).toBe(0);
    const index = JSON.parse(j.stdout.toString()) as { version: number; keys: { key: string; backend: string; openpgp_fingerprint: string; public_key_sha3_384: string; user_ids: string[] }[] };
    expect(index.version).toBe(1);
    expect(index.keys.map((k) => [k.key, k.backend])).toEqual([
      ["nethsm:signkey1", "nethsm"],
      ["pkcs11:token(label=signstar):key(label=ed25519-key)", "pkcs11"],
    ]);
    for (const k of index.keys) {
      expect(k.openpgp_fingerprint).toMatch(/^[0-9A-F]{40}$/);
      expect(k.public_key_sha3_384).toMatch(/^[0-9a-f]{96}$/);
      expect(inspected).toContain(k.openpgp_fingerprint);
    }

    const bad = await sshBytes({ sshd: host.sshd, user: host.u.certs, command: ["cat", "/etc/shadow"] });
    expect(bad.code).toBe(2);
    expect(bad.stdout.length).toBe(0);
    expect(bad.stderr).toContain('unknown mode "cat /etc/shadow"');
  });
});

describe("signstar-download-wireguard", () => {
  it("prints the host's public key, which matches wg pubkey of the root-only private key", async () => {
    const r = await sshBytes({ sshd: host.sshd, user: host.u.wireguard });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const privFile = join(host.root, "etc/signstar/wireguard/private.key");
    const st = await stat(privFile);
    expect([st.mode & 0o777, st.uid]).toEqual([0o600, 0]);
    const derived = await runBytes("wg", ["pubkey"], { input: await readFile(privFile) });
    expect(r.stdout.toString()).toBe(derived.stdout.toString());
    expect(r.stdout.toString()).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    // Re-running the keygen keeps the key pair.
    const again = await admin(["wireguard-keygen"], { ...process.env, SIGNSTAR_ROOT: host.root });
    expect(again.code).toBe(0);
    expect(again.stdout.toString()).toContain("kept the WireGuard key pair");
    expect((await sshBytes({ sshd: host.sshd, user: host.u.wireguard })).stdout.toString()).toBe(r.stdout.toString());
  });
});

describe("a secret rotation in progress: the NetHSM has the new passphrase, <file> still the old one", () => {
  /** Runs `body` while signstar-configure's rotation of `backendUsers` of `user` stands between its steps 2 and 3. */
  async function rotating(user: OperatorUser, backendUsers: readonly string[], body: () => Promise<void>): Promise<void> {
    const a = host.admin();
    const owner = (await lookupUser(user.user))!;
    const target = { root: "/", handling: "plaintext" as const, credsOptions: {} };
    try {
      for (const backendUser of backendUsers) {
        const next = `${backendUser}-rotated-0123456789`;
        await writeNextSecret(target, { owner, backendUser }, next);
        await a.setUserPassphrase(backendUser, next);
      }
      await body();
    } finally {
      for (const backendUser of backendUsers) {
        await a.setUserPassphrase(backendUser, `${backendUser}-passphrase-0123456789`);
        await rm(secretFilePath({ systemUser: user.user, backendUser, handling: "plaintext" }, "next"), { force: true });
      }
    }
  }

  it("signstar-download-backup logs in with <file>.next", async () => {
    await rotating(host.u.backup, ["backup1"], async () => {
      const r = await sshBytes({ sshd: host.sshd, user: host.u.backup });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(parseBackup(r.stdout).version).toBe(1);
    });
  });

  it("signstar-download-metrics reads the device and the keys with <file>.next", async () => {
    await rotating(host.u.metrics, ["metrics1", "keymetrics1"], async () => {
      const r = await sshBytes({ sshd: host.sshd, user: host.u.metrics });
      expect(r.code).toBe(0);
      const text = r.stdout.toString();
      expect(text).toContain('signstar_source_up{backend_user="metrics1",source="nethsm_device"} 1');
      expect(text).toContain('signstar_source_up{backend_user="keymetrics1",source="nethsm_keys"} 1');
    });
  });

  it("signstar-download-key-certificates reads the NetHSM key with <file>.next", async () => {
    await rotating(host.u.certs, ["certreader1"], async () => {
      const r = await sshBytes({ sshd: host.sshd, user: host.u.certs, command: ["json"] });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const index = JSON.parse(r.stdout.toString()) as { keys: { key: string }[] };
      expect(index.keys.map((k) => k.key)).toContain("nethsm:signkey1");
    });
  });
});

describe("role matrix", () => {
  it("every executable succeeds only for its own role, for every configured user and root", async () => {
    const { EXECUTABLES } = await import("../support/operator-host.js");
    const { createSigningRequest } = await import("../../lib/signing/request.js");
    const { Sha512State } = await import("../../lib/signing/sha512-state.js");
    const backup = (await sshBytes({ sshd: host.sshd, user: host.u.backup })).stdout;
    const inputs: Record<string, Uint8Array | string> = {
      "signstar-download-signature": createSigningRequest(Sha512State.create().update(Buffer.from("matrix"))),
      "signstar-upload-backup": backup,
      "signstar-upload-update": makeUpdateImage(host.updateKey, "x", "4.2"),
    };
    const allowed: Record<string, readonly string[]> = { "signstar-download-metrics": ["metrics", "hermetic_metrics"] };
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const { name, role } of EXECUTABLES) {
      for (const ou of host.all) {
        const r = await runAs(host, ou.user, name, { ...(inputs[name] !== undefined ? { input: inputs[name] } : {}) });
        const own = (allowed[name] ?? [role]).includes(ou.role);
        outcomes.push(`${name} as ${ou.role}: ${r.code}${r.code !== 0 && r.stdout.length > 0 ? " with stdout" : ""}`);
        expected.push(`${name} as ${ou.role}: ${own ? 0 : 5}`);
        if (own && r.code !== 0) console.error(name, ou.role, r.stderr);
      }
      const asRoot = await runBytes(process.execPath, [join(REPO_ROOT, "dist/bin", `${name}.js`)], { env: { ...process.env, ...host.env }, input: inputs[name] ?? "" });
      outcomes.push(`${name} as root: ${asRoot.code}`);
      expected.push(`${name} as root: 5`);
    }
    expect(outcomes).toEqual(expected);
  });
});
