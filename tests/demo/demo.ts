/**
 * The demo: signs README.md on the embedded default backend (SoftHSMv2) and verifies the signature with gpg
 * and sqop. As root it goes the real way — Unix users, sshd drop-ins from signstar-configure-build, a real
 * sshd on 127.0.0.1, our ssh2 client — and removes everything afterwards. Otherwise it signs in-process with
 * the same library path (token key, OpenPGP framing) and says so.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sendSigningRequest } from "../../lib/client/request-signature.js";
import { openPkcs11SigningKey } from "../../lib/backends/pkcs11/index.js";
import { ensurePkcs11SigningKey } from "../../lib/configure/pkcs11-keys.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { armor } from "../../lib/signing/openpgp/armor.js";
import { parseCertificate } from "../../lib/signing/openpgp/certificate.js";
import { signHasherState } from "../../lib/signing/openpgp/signature.js";
import { createSoftHsm } from "../support/softhsm.js";
import { REPO_ROOT, startSigningHost } from "../support/signing-host.js";

const exec = promisify(execFile);
const step = (text: string): void => void process.stdout.write(`==> ${text}\n`);

async function verify(certFile: string, sigFile: string, dataFile: string): Promise<void> {
  const gnupg = await mkdtemp(join(tmpdir(), "signstar-demo-gpg-"));
  try {
    const env = { ...process.env, GNUPGHOME: gnupg };
    await exec("gpg", ["--batch", "--quiet", "--import", certFile], { env });
    const gpg = await exec("gpg", ["--batch", "--verify", sigFile, dataFile], { env });
    const good = (gpg.stderr.split("\n").find((l) => l.includes("Good signature")) ?? "").replace(/^gpg: /, "");
    step(`gpg --verify: ${good}`);
    await exec("sh", ["-c", 'sqop verify "$1" "$2" < "$3"', "sh", sigFile, certFile, dataFile]);
    step("sqop verify: OK");
  } finally {
    await exec("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"]).catch(() => undefined);
    await rm(gnupg, { recursive: true, force: true });
  }
}

async function overSsh(document: string): Promise<void> {
  step("creating a SoftHSM token, an Ed25519 key on it with its OpenPGP certificate, a Unix user, its secret,");
  step("sshd drop-ins (signstar-configure-build) and a real sshd on 127.0.0.1");
  const host = await startSigningHost({ signers: ["ed25519"] });
  try {
    const signer = host.signers[0]!;
    step(`host ready: sshd on 127.0.0.1:${host.sshd.port}, signer ${signer.user}, key ${signer.fingerprint}`);
    step(`signstar-request-signature send: hashing ${document} and requesting a signature over SSH`);
    const started = process.hrtime.bigint();
    await sendSigningRequest({
      host: host.sshd.host,
      port: host.sshd.port,
      user: signer.user,
      identity: signer.sshKey.privateKeyFile,
      knownHostsPath: host.sshd.knownHosts,
      file: document,
    });
    step(`signature written to ${document}.sig in ${Math.round(Number(process.hrtime.bigint() - started) / 1e6)} ms`);
    const audit = await host.syslog.waitFor(/outcome="ok"/);
    step(`audit entry: ${audit.replace(/^<\d+>/, "")}`);
    await verify(signer.certificateFile, `${document}.sig`, document);
  } finally {
    step("removing the demo users, sshd and token");
    await host.stop();
  }
}

async function inProcess(work: string, document: string): Promise<void> {
  step("not root: signing in-process (same token, key and OpenPGP path; no sshd, no Unix users)");
  const softhsm = await createSoftHsm({ tokens: [{ label: "signstar", userPin: "user-pin-123456" }] });
  softhsm.activate();
  try {
    const token = { label: "signstar" };
    const key = { label: "demo-ed25519" };
    const ensured = await ensurePkcs11SigningKey({
      module: softhsm.module, token, key, userPin: softhsm.token.userPin, now: new Date(Date.now() - 60_000),
      setup: { keyType: "Curve25519", keyMechanisms: ["EdDsaSignature"], signatureType: "EdDsa", openpgp: { userIds: ["Signstar demo <demo@signstar.test>"], version: 4 } },
    });
    step(`key on the token: ${ensured.fingerprint}`);
    const certFile = join(work, "demo.cert.pgp");
    await writeFile(certFile, ensured.certificate);
    const state = await hashFile(document);
    const signingKey = await openPkcs11SigningKey({ module: softhsm.module, token, key, pin: softhsm.token.userPin });
    try {
      const sig = await signHasherState(state, signingKey, parseCertificate(ensured.certificate), { created: new Date() });
      await writeFile(`${document}.asc`, armor("SIGNATURE", sig));
    } finally {
      await signingKey.close();
    }
    step(`signature written to ${document}.asc`);
    await verify(certFile, `${document}.asc`, document);
  } finally {
    await softhsm.cleanup();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "signstar-demo-"));
  try {
    const document = join(work, "README.md");
    await copyFile(join(REPO_ROOT, "README.md"), document);
    step(`document: README.md (${(await readFile(document)).length} bytes), copied to ${work}`);
    if (process.geteuid?.() === 0) await overSsh(document);
    else await inProcess(work, document);
    step("demo finished: the signature verifies");
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
