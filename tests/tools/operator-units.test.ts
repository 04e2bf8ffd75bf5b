/** In-process checks of the operator tools' building blocks and the systemd units. */
import { execFile } from "node:child_process";
import { chown, copyFile, lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config/load.js";
import { backendUsersOf, roleOf, userMappings } from "../../lib/config/mappings.js";
import { renderConfig } from "../../lib/config/render.js";
import { ConfigError } from "../../lib/config/problems.js";
import { FORCE_COMMANDS } from "../../lib/host/force-commands.js";
import { Exposition, sanitizeName } from "../../lib/metrics/prometheus.js";
import { ensureCountersDir, readSignatureCounters, recordSignatureOutcome } from "../../lib/metrics/signature-counters.js";
import { ensureStateDirs } from "../../lib/secrets/state-dirs.js";
import { certificateMode } from "../../lib/tools/download-key-certificates.js";
import { deviceMetric } from "../../lib/tools/download-metrics.js";
import { parseWireGuardKey } from "../../lib/admin/wireguard.js";
import { receiveUpload } from "../../lib/spool/uploads.js";
import { checkUpdateImage } from "../../lib/nethsm-backup/update-image.js";
import { REPO_ROOT } from "../support/signing-host.js";
import { TestUsers } from "../support/users.js";

const exec = promisify(execFile);
const KEY = (n: number) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${String.fromCharCode(65 + n).repeat(43)} k${n}`;
let work: string;
const users = new TestUsers();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-opunit-"));
});
afterAll(async () => {
  await users.removeAll();
  await rm(work, { recursive: true, force: true });
});

function problems(text: string): string[] {
  try {
    parseConfig(text, "t");
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.location}: ${p.message}`);
    throw e;
  }
}

const HEAD = '[system]\niteration = 1\nadmin_secret_handling = "plaintext"\nnon_admin_secret_handling = "plaintext"\n';
const NETHSM = '[nethsm]\nconnections = [{ url = "https://nethsm.example/api/v1", tls_security = "Native" }]\n[[nethsm.mappings]]\nadmin = "admin"\n';
const SETUP = 'key_setup = { key_type = "Curve25519", key_mechanisms = ["EdDsaSignature"], signature_type = "EdDsa", key_context = { openpgp = { user_ids = ["A <a@b>"], version = "4" } } }';
const signing = (user: string, backend: string, id: string, tag: string, n: number) =>
  `[[nethsm.mappings]]\n[nethsm.mappings.signing]\nbackend_user = "${backend}"\nsigning_key_id = "${id}"\ntag = "${tag}"\nsystem_user = "${user}"\nssh_authorized_key = "${KEY(n)}"\n${SETUP}\n`;

describe("configuration: operator mapping kinds", () => {
  const text =
    HEAD + NETHSM + 'admin = "ns1~admin"\n'.replace(/^/, "[[nethsm.mappings]]\n") +
    `[[nethsm.mappings]]\nbackup_upload = { system_user = "bup", ssh_authorized_key = "${KEY(1)}" }\n` +
    `[[nethsm.mappings]]\nupdate_upload = { system_user = "uup", ssh_authorized_key = "${KEY(2)}" }\n` +
    `[[nethsm.mappings]]\nkey_certificates = { backend_users = ["certs", "ns1~certs"], system_user = "cert", ssh_authorized_key = "${KEY(3)}" }\n` +
    signing("s1", "op1", "k1", "t1", 4) + signing("s2", "ns1~op", "k2", "t2", 5);

  it("parses backup_upload, update_upload and key_certificates, maps them to roles, ForceCommands and backend users, and renders them back", () => {
    const config = parseConfig(text, "t");
    const view = userMappings(config).map((m) => [m.mapping.systemUser, roleOf(m), FORCE_COMMANDS[roleOf(m)], backendUsersOf(m).join(",")]);
    expect(view).toEqual([
      ["bup", "backup_upload", "signstar-upload-backup", ""],
      ["uup", "update_upload", "signstar-upload-update", ""],
      ["cert", "key_certificates", "signstar-download-key-certificates", "certs,ns1~certs"],
      ["s1", "signing", "signstar-download-signature", "op1"],
      ["s2", "signing", "signstar-download-signature", "ns1~op"],
    ]);
    expect(parseConfig(renderConfig(config), "r")).toEqual(config);
  });

  it("requires an operator user per namespace holding signing keys, and no duplicates", () => {
    const missing = text.replace('backend_users = ["certs", "ns1~certs"]', 'backend_users = ["op1"]');
    expect(problems(missing)).toEqual([
      'nethsm.mappings[5].signing.backend_user: duplicate backend user ID "op1" (also used at nethsm.mappings[4].key_certificates.backend_users[0])',
      'nethsm.mappings[4].key_certificates.backend_users: no operator user in namespace "ns1" to read its signing keys (add "ns1~<name>")',
    ]);
    const none = text.replace('backend_users = ["certs", "ns1~certs"]', "backend_users = []");
    expect(problems(none)).toEqual([
      'nethsm.mappings[4].key_certificates.backend_users: no system-wide operator user to read the system-wide signing keys (add "<name>")',
      'nethsm.mappings[4].key_certificates.backend_users: no operator user in namespace "ns1" to read its signing keys (add "ns1~<name>")',
    ]);
    const dupUser = text.replace('system_user = "uup"', 'system_user = "bup"');
    expect(problems(dupUser)).toEqual(['nethsm.mappings[3].update_upload.system_user: duplicate system user ID "bup" (also used at nethsm.mappings[2].backup_upload.system_user)']);
    expect(problems(text.replace('{ system_user = "bup"', '{ backend_user = "x", system_user = "bup"'))[0]).toMatch(/^nethsm\.mappings\[2\]\.backup_upload\.backend_user: unknown key/);
  });

  it("allows key_certificates in [pkcs11] only when no NetHSM signing keys exist", () => {
    const pk = `[pkcs11]\nmodule = "/usr/lib/softhsm/libsofthsm2.so"\n[[pkcs11.mappings]]\nadmin = { token = { label = "t" } }\n[[pkcs11.mappings]]\nkey_certificates = { system_user = "pc", ssh_authorized_key = "${KEY(9)}" }\n`;
    const ok = parseConfig(HEAD + pk, "t");
    expect(userMappings(ok).map((m) => [m.mapping.systemUser, roleOf(m), backendUsersOf(m)])).toEqual([["pc", "key_certificates", []]]);
    expect(parseConfig(renderConfig(ok), "r")).toEqual(ok);
    expect(problems(text + pk)).toEqual([
      "pkcs11.mappings[1].key_certificates: cannot read the certificates of the NetHSM signing keys (no NetHSM credentials); define key_certificates in [nethsm] with backend_users instead",
    ]);
  });
});

describe("Prometheus exposition", () => {
  it("escapes label values and help, sorts families and samples, and refuses bad names", () => {
    const e = new Exposition();
    const g = e.family("x_value", "gauge", "line\\one\nline two");
    e.set(g, { b: 'q"uote', a: "back\\slash\nnl" }, 1.5);
    e.set(g, { b: "a", a: "a" }, 2);
    const c = e.family("a_total", "counter", "first");
    e.set(c, {}, 3);
    e.family("empty", "gauge", "no samples are not rendered");
    expect(e.render()).toBe(
      "# HELP a_total first\n# TYPE a_total counter\na_total 3\n" +
        "# HELP x_value line\\\\one\\nline two\n# TYPE x_value gauge\n" +
        'x_value{a="a",b="a"} 2\nx_value{a="back\\\\slash\\nnl",b="q\\"uote"} 1.5\n',
    );
    expect(() => e.family("9bad", "gauge", "")).toThrow(/invalid metric name/);
    expect(() => e.set(g, { "bad-label": "x" }, 1)).toThrow(/invalid label name/);
    expect(sanitizeName("http response 200")).toBe("http_response_200");
    expect(deviceMetric("http response 401")).toMatchObject({ name: "signstar_nethsm_http_responses_total", labels: { code: "401" } });
    expect(deviceMetric("sign")).toMatchObject({ name: "signstar_nethsm_sign_total", type: "counter" });
    expect(deviceMetric("gc major bytes")).toMatchObject({ name: "signstar_nethsm_gc_major_bytes", type: "gauge" });
    expect(deviceMetric("http response total")).toBeUndefined();
  });
});

describe("signature counters", () => {
  it("counts per key in the user's own directory, and trusts only a directory and file owned by the user", async () => {
    const a = await users.add("ctr-a");
    const b = await users.add("ctr-b");
    const dir = join(work, "counters");
    await mkdir(dir, { mode: 0o755 });
    const now = new Date("2026-01-02T03:04:05Z");
    // No directory of the user yet (tmpfiles.d makes it): nothing is recorded, nothing is read.
    expect(await recordSignatureOutcome({ dir, user: a.name, uid: 0, key: "k", outcome: "ok", now })).toBe(false);
    await ensureCountersDir(join(dir, a.name), { uid: 0, gid: 0 });
    expect(await recordSignatureOutcome({ dir, user: a.name, uid: 0, key: "k", outcome: "ok", now })).toBe(true);
    expect(await recordSignatureOutcome({ dir, user: a.name, uid: 0, key: "k", outcome: "error", now })).toBe(true);
    expect(await readdir(join(dir, a.name))).toEqual(["counters.json"]);
    expect(await readSignatureCounters(dir, a.name, 0)).toEqual({ k: { ok: 1, error: 1, lastOk: 1767323045, lastError: 1767323045 } });
    // Written by uid 0 but claimed for user a: not trusted.
    expect(await readSignatureCounters(dir, a.name, a.uid)).toEqual({});
    // A directory for b made by a (owner a): b's figures there are not trusted, even in a file owned by b.
    await mkdir(join(dir, b.name), { mode: 0o755 });
    await chown(join(dir, b.name), a.uid, a.gid);
    await writeFile(join(dir, b.name, "counters.json"), JSON.stringify({ version: 1, keys: { k: { ok: 99 } } }));
    await chown(join(dir, b.name, "counters.json"), b.uid, b.gid);
    expect(await readSignatureCounters(dir, b.name, b.uid)).toEqual({});
    // The base directory is root's 0755: nobody else can create entries in it.
    const st = await lstat(dir);
    expect([st.uid, st.mode & 0o7777]).toEqual([0, 0o755]);
  });
});

describe("upload spool", () => {
  it("times out a stalled upload and aborts on a signal, leaving no file", async () => {
    const mk = mkdir;
    const root = join(work, "spoolroot");
    await mk(join(root, "var/lib/signstar/home"), { recursive: true });
    const home = join(root, "var/lib/signstar/home", "me");
    // Missing uploads/ (made by tmpfiles.d): refused, the tool cannot create it below the root-owned chain.
    await expect(receiveUpload({ kind: "backup", systemUser: "me", uid: 0, maxBytes: 1000, root, validate: async () => 1, input: new PassThrough(), timeoutMs: 100 })).rejects.toThrow(
      /the uploads directory .* of "me" is missing/,
    );
    await ensureStateDirs(root, "me", "uploads", { uid: 0, gid: 0 });
    const base = { kind: "backup" as const, systemUser: "me", uid: 0, maxBytes: 1000, root, validate: async () => 1 };
    const stalled = new PassThrough();
    stalled.write("partial");
    await expect(receiveUpload({ ...base, input: stalled, timeoutMs: 200 })).rejects.toThrow(/did not arrive completely within/);
    const aborted = new PassThrough();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(receiveUpload({ ...base, input: aborted, timeoutMs: 5000, signal: ac.signal })).rejects.toThrow(/interrupted/);
    const ok = new PassThrough();
    ok.end("complete");
    const receipt = await receiveUpload({ ...base, input: ok, timeoutMs: 5000 });
    expect(receipt.size).toBe(8);
    expect(await readdir(join(home, ".local/state/signstar/uploads"))).toEqual(["backup.bin"]);
    expect(await readFile(receipt.path, "utf8")).toBe("complete");
  });
});

describe("upload spool limits", () => {
  it("accepts one upload at a time per user and refuses when the file system lacks room for a full upload", async () => {
    const root = join(work, "lockroot");
    await ensureStateDirs(root, "me", "uploads", { uid: 0, gid: 0 });
    const base = { systemUser: "me", uid: 0, maxBytes: 1000, root, timeoutMs: 5000, validate: async () => 1 };
    const first = new PassThrough();
    first.write("part");
    const running = receiveUpload({ ...base, kind: "backup", input: first });
    await new Promise((r) => setTimeout(r, 100));
    const second = new PassThrough();
    second.end("other");
    await expect(receiveUpload({ ...base, kind: "update", input: second })).rejects.toThrow(
      'another upload of "me" is in progress; only one upload at a time is accepted, try again when it has finished',
    );
    first.end("-done");
    expect((await running).size).toBe(9);
    // The lock went with the first upload: the next one is accepted.
    const third = new PassThrough();
    third.end("next");
    expect((await receiveUpload({ ...base, kind: "update", input: third })).size).toBe(4);
    const uploads = join(root, "var/lib/signstar/home/me/.local/state/signstar/uploads");
    expect((await readdir(uploads)).sort()).toEqual(["backup.bin", "update.bin"]);
    // A lock left by a process that is gone does not block.
    await writeFile(join(uploads, ".upload.lock"), "999999999\n");
    const fourth = new PassThrough();
    fourth.end("again");
    expect((await receiveUpload({ ...base, kind: "update", input: fourth })).size).toBe(5);
    const big = new PassThrough();
    big.end("x");
    await expect(receiveUpload({ ...base, kind: "backup", input: big, freeSpaceHeadroom: 2 ** 52 })).rejects.toThrow(
      /^not enough free space for an upload: \d+ bytes available in .*\/uploads, but \d+ are needed \(the size limit 1000 plus 4503599627370496 bytes kept free\)$/,
    );
    expect((await readdir(uploads)).sort()).toEqual(["backup.bin", "update.bin"]);
  });
});

describe("small parsers", () => {
  it("update image header, certificate mode whitelist, WireGuard key syntax", () => {
    const field = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 16, (b.length >> 8) & 255, b.length & 255]), b]);
    const head = Buffer.concat([Buffer.from("_NETHSM_UPDATE_\x00", "latin1"), field(Buffer.alloc(256, 1)), field(Buffer.from("notes\u0001")), field(Buffer.from("3.1")), Buffer.from([0, 0, 0, 2])]);
    expect(checkUpdateImage(head, head.length + 1024)).toEqual({ version: "3.1", changelog: "notes ", blocks: 2, signatureBytes: 256 });
    expect(() => checkUpdateImage(head, head.length + 1023)).toThrow(/announces 2 blocks/);
    expect(() => checkUpdateImage(head.subarray(0, 30), 2000)).toThrow(/truncated in the signature/);
    expect(certificateMode(undefined)).toBe("keyring");
    expect(certificateMode("  json ")).toBe("json");
    expect(certificateMode("keyring")).toBe("keyring");
    expect(certificateMode("", true)).toBe("json");
    expect(() => certificateMode("json; rm -rf /")).toThrow(/unknown mode/);
    expect(parseWireGuardKey("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n")).toBe("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=");
    expect(parseWireGuardKey("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk")).toBeUndefined();
  });
});

describe("systemd units", () => {
  it("pass systemd-analyze verify (ExecStart pointed at the built signstar-admin)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "signstar-units-"));
    try {
      const admin = join(dir, "signstar-admin");
      await writeFile(admin, `#!/bin/sh\nexec ${process.execPath} ${join(REPO_ROOT, "dist/bin/signstar-admin.js")} "$@"\n`, { mode: 0o755 });
      const names = ["signstar-hermetic-metrics.service", "signstar-hermetic-metrics.timer", "signstar-wireguard-keygen.service"];
      for (const n of names) {
        await copyFile(join(REPO_ROOT, "systemd", n), join(dir, n));
        const text = await readFile(join(dir, n), "utf8");
        await writeFile(join(dir, n), text.replaceAll("/usr/bin/signstar-admin", admin));
      }
      expect((await readFile(join(dir, names[0]!), "utf8")).includes(admin)).toBe(true);
      const { stdout, stderr } = await exec("systemd-analyze", ["verify", ...names.map((n) => join(dir, n))], { env: { ...process.env, SYSTEMD_LOG_LEVEL: "warning" } });
      expect(`${stdout}${stderr}`.trim()).toBe("");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
