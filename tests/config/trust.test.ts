/**
 * Issue 17.3: root loads the PKCS#11 module the configuration names, so a configuration or module (or a
 * directory above them) that someone other than root can change is root code execution. Both are refused like
 * sshd's StrictModes does, with one line naming the path; the ForceCommand tools read the configuration the same
 * way. `signstar-config check` validates content only and still reads any file.
 */
import { chmod, chown, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pkcs11TokenPresent } from "../../lib/backends/pkcs11/index.js";
import { loadConfig } from "../../lib/config/load.js";
import { ExitCode } from "../../lib/errors.js";
import { REPO_ROOT } from "../support/repo.js";
import { run } from "../support/run.js";

const SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so";
const TEXT = `[system]\niteration = 1\nadmin_secret_handling = "plaintext"\nnon_admin_secret_handling = "plaintext"\n[pkcs11]\nmodule = "${SOFTHSM}"\n[[pkcs11.mappings]]\nadmin = { token = { label = "t" } }\n`;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-trust-"));
  await chmod(dir, 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configAt(name: string, mode = 0o644, uid = 0): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, TEXT);
  await chmod(file, mode);
  await chown(file, uid, 0);
  return file;
}

describe("configuration ownership (StrictModes)", () => {
  it("a root-owned 0644 file below root-controlled (or sticky /tmp) directories loads", async () => {
    const { config } = await loadConfig({ path: await configAt("ok.toml") });
    expect(config.system.iteration).toBe(1);
  });

  it("refuses a group- or world-writable file, naming it", async () => {
    const file = await configAt("writable.toml", 0o664);
    await expect(loadConfig({ path: file })).rejects.toThrow(`the configuration file ${file} has mode 0664, but must not be writable by anyone but its owner`);
  });

  it("refuses a file not owned by root", async () => {
    const file = await configAt("nobody.toml", 0o644, 65534);
    await expect(loadConfig({ path: file })).rejects.toThrow(`the configuration file ${file} is owned by uid 65534, but must be owned by uid 0`);
  });

  it("refuses a file in a group-writable directory, naming the directory", async () => {
    const sub = join(dir, "gw");
    await mkdir(sub, { mode: 0o775 });
    await chmod(sub, 0o775);
    const file = join(sub, "config.toml");
    await writeFile(file, TEXT, { mode: 0o644 });
    await expect(loadConfig({ path: file })).rejects.toThrow(`refusing the configuration file ${file}: its directory ${sub} has mode 0775: writable by group or others`);
  });

  it("the ForceCommand tools refuse it too (one line, exit 4, nothing on stdout); signstar-config check reads it", async () => {
    const file = await configAt("tool.toml", 0o666);
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", SIGNSTAR_CONFIG: file };
    const r = await run(process.execPath, [join(REPO_ROOT, "dist/bin/signstar-download-key-certificates.js")], { env, uid: 65534, gid: 65534, input: "" });
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(new RegExp(`^signstar-download-key-certificates: .*${file.replace(/[.]/g, "\\.")} has mode 0666, but must not be writable by anyone but its owner\\n$`));
    expect(r.code).toBe(ExitCode.Config);
    const check = await run(process.execPath, [join(REPO_ROOT, "dist/bin/signstar-config.js"), "check", "--config", file], { env });
    expect(check.code).toBe(0);
  });
});

describe("PKCS#11 module ownership", () => {
  it("refuses a group/world-writable module and one in a writable directory, naming the path", async () => {
    const sub = join(dir, "modules");
    await mkdir(sub, { mode: 0o755 });
    const module = join(sub, "libsofthsm2.so");
    await copyFile(SOFTHSM, module);
    await chmod(module, 0o666);
    expect(() => pkcs11TokenPresent(module, { label: "t" })).toThrow(`refusing PKCS#11 module ${module}: mode 0666 is writable by group or others`);
    await chmod(module, 0o644);
    await chmod(sub, 0o777);
    expect(() => pkcs11TokenPresent(module, { label: "t" })).toThrow(`refusing PKCS#11 module ${module}: its directory ${sub} is writable by group or others`);
    await chmod(sub, 0o755);
    await chown(module, 65534, 65534);
    expect(() => pkcs11TokenPresent(module, { label: "t" })).toThrow(`refusing PKCS#11 module ${module}: it is owned by uid 65534, not root`);
  });
});
