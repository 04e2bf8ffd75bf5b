/** Helpers for the signstar-configure stories: signing over SSH, certificates from the token, gpg verification. */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { parseSigningResponse } from "../../lib/signing/response.js";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";
import { exitCodeOf as run } from "../support/run.js";
import { BACKEND_USER, TOKEN_LABEL, type SharesHost } from "../support/shares-host.js";
import { expect } from "vitest";
import { CRASH_ENV, type CrashPoint } from "../../lib/configure/crash.js";

const exec = promisify(execFile);

/** The signer's PIN file as configure wrote it (root reads it). */
export async function pinOf(host: SharesHost, signer: string): Promise<string> {
  const user = host.signers.get(signer)!.user;
  return readFile(secretFilePath({ systemUser: user, backendUser: BACKEND_USER, handling: "plaintext" }), "utf8");
}

/** The OpenPGP certificate of a signer's key, read from the token in a child process (fresh SoftHSM view). */
export async function certificateOf(host: SharesHost, signer: string): Promise<Uint8Array> {
  const pin = await pinOf(host, signer);
  const script = `
    const { openPkcs11Admin } = await import(${JSON.stringify(join(process.cwd(), "dist/lib/backends/pkcs11/index.js"))});
    const pin = require("node:fs").readFileSync(0, "utf8");
    const a = await openPkcs11Admin({ module: ${JSON.stringify(host.softhsm.module)}, token: { label: ${JSON.stringify(TOKEN_LABEL)} }, userPin: pin });
    const c = await a.getCertificate(${JSON.stringify(`label:${signer}-key`)});
    await a.close();
    process.stdout.write(Buffer.from(c).toString("base64"));
  `;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=commonjs", "-e", `(async () => { ${script} })().catch((e) => { console.error(e.message); process.exit(1); })`], {
      env: { PATH: process.env["PATH"], SOFTHSM2_CONF: host.softhsm.confPath },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let o = "";
    let e = "";
    child.stdout.on("data", (d: Buffer) => (o += d.toString()));
    child.stderr.on("data", (d: Buffer) => (e += d.toString()));
    child.on("close", (code) => (code === 0 ? resolve(o) : reject(new Error(`certificate read failed: ${e}`))));
    child.stdin.end(pin);
  });
  return Buffer.from(out, "base64");
}

/** Signs a fresh random file over SSH as `signer`; returns the paths of data and signature and the ssh result. */
export async function signOverSsh(host: SharesHost, signer: string, work: string): Promise<{ code: number | null; stderr: string; data: string; sig: string }> {
  const data = join(work, `${signer}-${randomBytes(4).toString("hex")}.bin`);
  await writeFile(data, randomBytes(4096));
  const request = createSigningRequest(await hashFile(data), { "file-name": "payload" });
  const r = await host.ssh(host.signers.get(signer)!, { input: request });
  const sig = `${data}.asc`;
  if (r.code === 0) await writeFile(sig, `${parseSigningResponse(r.stdout).signature}\n`);
  return { code: r.code, stderr: r.stderr, data, sig };
}

/** gpg --verify with its own GNUPGHOME; returns gpg's exit code. */
export async function gpgVerify(certificate: Uint8Array, sig: string, data: string): Promise<number> {
  const home = await mkdtemp(join(tmpdir(), "signstar-gpg-"));
  try {
    const env = { ...process.env, GNUPGHOME: home };
    const cert = join(home, "cert.pgp");
    await writeFile(cert, certificate);
    await exec("gpg", ["--batch", "--quiet", "--import", cert], { env });
    return await run("gpg", ["--batch", "--quiet", "--verify", sig, data], env);
  } finally {
    await run("gpgconf", ["--homedir", home, "--kill", "gpg-agent"]);
    await rm(home, { recursive: true, force: true });
  }
}

/**
 * Kills a signstar-configure run at `point` (SIGKILL through the crash hook), runs it again and checks that the
 * second run completes cleanly; returns the second run's stdout.
 */
export async function crashThenConverge(host: SharesHost, point: CrashPoint): Promise<string> {
  const crashed = await host.configure([], { [CRASH_ENV]: point });
  expect(crashed.signal, `run killed at ${point}: ${crashed.stderr}`).toBe("SIGKILL");
  const again = await host.configure();
  expect(again.stderr).toBe("");
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/^info: configuration applied$/m);
  return again.stdout;
}
