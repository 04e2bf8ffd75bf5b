/**
 * The demo: the production flow on the embedded default backend (SoftHSMv2), as an operator runs it, then a
 * client signing README.md and verifying the signature with gpg and sqop. The example configuration enables the
 * signing log: signstar-configure makes the log key, the log writer runs as signstar-log, and every signature is
 * logged before the client gets it.
 *
 * It runs on a private host (tests/support/production-host.ts): /etc, /usr and /var are copy-on-write views of
 * this machine, /run and /dev are fresh, the executables are linked into /usr/bin like the package installs
 * them. After signing, the client downloads the signing log through the log_reader role (one file per SSH call)
 * and proves the signature's inclusion with `signstar-request-signature verify-log`, and Go's sumdb/tlog proves it
 * on the downloaded copy. With SIGNSTAR_DEMO_OUT naming a directory, the demo leaves there `log/` (checkpoint,
 * tiles, entry bundles as served), `log.vkey` (the verifier key line) and `signatures/` (every signature issued).
 * Nothing is provisioned by the demo itself: the token, the key, its certificate, the Unix users, their
 * secrets and sshd's drop-ins all come from signstar-configure-build and signstar-configure. When it ends, the
 * private host and everything in it are gone.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../support/repo.js";
import { startProductionHost, type ProductionHost } from "../support/production-host.js";
import { generateSshKey, runSsh, type SshKey } from "../support/sshd.js";
import { buildGoVerifier, goVerify } from "../support/go-tlog-verifier.js";
import { runBytes } from "../support/run.js";
import { checkSignatureInLog, logNotationOf } from "../../lib/client/log-check.js";
import { openCheckpoint } from "../../lib/tlog/checkpoint.js";
import { parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch } from "../../lib/tlog/reader.js";
import { printedVerifierKey } from "../support/log-proof.js";
import { nodesAtTileLevel, tileFor, tilePath, TILE_WIDTH } from "../../lib/tlog/tiles.js";

const exec = promisify(execFile);
const say = (text: string): void => void process.stdout.write(`${text}\n`);
const SIGNER = "signstar-signer";
const CERTS = "signstar-certs";
const READER = "signstar-log-reader";
const CLIENT = join(REPO_ROOT, "dist", "bin", "signstar-request-signature.js");

/** Fails with the tool's own stderr line when it does not exit 0; returns its stdout. */
async function operator(host: ProductionHost, name: string, args: readonly string[] = []): Promise<string> {
  const result = await host.tool(name, args);
  if (result.code !== 0) throw new Error(`${name} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/**
 * The config an operator writes: the shipped example, with this demo's client keys, a log reader and a
 * key-certificates user.
 */
async function demoConfig(signerKey: string, certsKey: string, readerKey: string): Promise<string> {
  const example = await readFile(join(REPO_ROOT, "config", "example-softhsm.toml"), "utf8");
  const withKey = example.replace(/^ssh_authorized_key = ".*"$/m, `ssh_authorized_key = "${signerKey}"`);
  const reader = `[[system.mappings]]\nlog_reader = { system_user = "${READER}", ssh_authorized_key = "${readerKey}" }\n\n`;
  if (!withKey.includes("\n[pkcs11]\n")) throw new Error("config/example-softhsm.toml has no [pkcs11] section");
  return `${withKey.replace("\n[pkcs11]\n", `\n${reader}[pkcs11]\n`)}
[[pkcs11.mappings]]
key_certificates = { system_user = "${CERTS}", ssh_authorized_key = "${certsKey}" }
`;
}

async function verify(certFile: string, sigFile: string, dataFile: string): Promise<void> {
  const gnupg = await mkdtemp(join(tmpdir(), "signstar-demo-gpg-"));
  try {
    const env = { ...process.env, GNUPGHOME: gnupg };
    await exec("gpg", ["--batch", "--quiet", "--import", certFile], { env });
    const gpg = await exec("gpg", ["--batch", "--verify", sigFile, dataFile], { env });
    say(`   gpg --verify: ${(gpg.stderr.split("\n").find((l) => l.includes("Good signature")) ?? "").replace(/^gpg: /, "")}`);
    await exec("sh", ["-c", 'sqop verify "$1" "$2" < "$3"', "sh", sigFile, certFile, dataFile]);
    say("   sqop verify: OK");
  } finally {
    await exec("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"]).catch(() => undefined);
    await rm(gnupg, { recursive: true, force: true });
  }
}

/** Every file of the log of `size` entries: the checkpoint, the hash tiles of every level, the entry bundles. */
function logPaths(size: number): string[] {
  const paths = ["checkpoint"];
  for (let level = 0; nodesAtTileLevel(level, size) > 0; level++) {
    for (let i = 0; i * TILE_WIDTH < nodesAtTileLevel(level, size); i++) paths.push(tilePath(tileFor(level, i, size)));
  }
  for (let i = 0; i * TILE_WIDTH < size; i++) paths.push(tilePath(tileFor("entries", i, size)));
  return paths;
}

/** `ssh reader@host <path>`: one file of the log as the log_reader serves it. */
async function readLogFile(sshd: { host: string; port: number; knownHosts: string }, key: SshKey, path: string): Promise<Buffer> {
  const r = await runBytes("ssh", [
    "-F", "/dev/null", "-p", String(sshd.port), "-i", key.privateKeyFile, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${sshd.knownHosts}`,
    "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", `${READER}@${sshd.host}`, path,
  ], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`ssh ${READER}@host ${path} exited ${r.code}: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/** Downloads the whole log through the log_reader role into `dir` (files as served); returns the tree size. */
async function downloadLog(sshd: { host: string; port: number; knownHosts: string }, key: SshKey, vkey: string, dir: string): Promise<{ size: number; files: number; bytes: number }> {
  const checkpoint = await readLogFile(sshd, key, "checkpoint");
  const { size } = openCheckpoint(checkpoint, parseVerifierKey(vkey));
  let bytes = 0;
  const paths = logPaths(size);
  for (const path of paths) {
    const data = path === "checkpoint" ? checkpoint : await readLogFile(sshd, key, path);
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), data);
    bytes += data.length;
  }
  return { size, files: paths.length, bytes };
}

/** Where the demo leaves the log, its verifier key and the signatures: SIGNSTAR_DEMO_OUT, else inside `work`. */
async function outputDir(work: string): Promise<{ dir: string; kept: boolean }> {
  const named = process.env["SIGNSTAR_DEMO_OUT"];
  const kept = named !== undefined && named !== "";
  const dir = kept ? resolve(named) : join(work, "out");
  await mkdir(dir, { recursive: true });
  return { dir, kept };
}

async function demo(work: string): Promise<void> {
  const client = join(work, "client");
  await exec("mkdir", ["-m", "0700", client]);
  const signerKey = await generateSshKey(client, "signer");
  const certsKey = await generateSshKey(client, "certs");
  const readerKey = await generateSshKey(client, "log-reader");
  const document = join(client, "README.md");
  await copyFile(join(REPO_ROOT, "README.md"), document);

  say("== a private host: /etc, /usr, /var copy-on-write over this machine's; /run and /dev fresh");
  const host = await startProductionHost();
  try {
    say("   Signstar's executables linked into /usr/bin, as the package installs them");
    await host.writeConfig(await demoConfig(signerKey.publicKey, certsKey.publicKey, readerKey.publicKey));
    say(`== the operator writes /etc/signstar/config.toml (config/example-softhsm.toml + a log reader and a key-certificates user)`);
    say(`$ signstar-config check\n   ${(await operator(host, "signstar-config", ["check"])).trim().split("\n").join("\n   ")}`);
    await operator(host, "signstar-configure-build");
    say(`$ signstar-configure-build\n   users ${SIGNER}, ${READER} and ${CERTS}, signstar-log, their authorized_keys, sshd drop-ins (validated), tmpfiles.d`);
    const configured = (await operator(host, "signstar-configure")).trim();
    say(`$ signstar-configure\n   ${configured.split("\n").slice(0, 8).join("\n   ")}`);
    const vkey = printedVerifierKey(configured);
    if (vkey === undefined) throw new Error("signstar-configure printed no signing log verifier key");
    say(`   ... the signing log's key (root-only) and its verifier key:\n   ${vkey}`);
    await host.startLogWriter();
    say(`$ runuser -u signstar-log -- signstar-log-writer --key - < /var/lib/signstar/log.key &\n   the log writer, as its own user (no systemd here; with systemd: systemctl enable --now signstar-log-writer.socket)`);
    const sshd = await host.startSshd();
    say(`$ sshd   (Debian's sshd_config with Signstar's drop-ins, on 127.0.0.1:${sshd.port})`);

    say("== a client (another machine, in a real deployment)");
    const started = process.hrtime.bigint();
    const send = await exec("node", [
      join(REPO_ROOT, "dist", "bin", "signstar-request-signature.js"), "send",
      "--host", sshd.host, "--port", String(sshd.port), "--user", SIGNER,
      "--identity", signerKey.privateKeyFile, "--known-hosts", sshd.knownHosts, document,
    ]);
    const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
    say(`$ signstar-request-signature send --host 127.0.0.1 --user ${SIGNER} README.md\n   ${send.stdout.trim()} (${ms} ms, hashing included)`);
    const keyring = await runSsh({ sshd, user: CERTS, identity: certsKey.privateKeyFile });
    if (keyring.code !== 0) throw new Error(`the key-certificates user got exit ${keyring.code}: ${keyring.stderr.trim()}`);
    const certFile = join(client, "keyring.asc");
    await writeFile(certFile, keyring.stdout);
    say(`$ ssh ${CERTS}@127.0.0.1 > keyring.asc\n   ${keyring.stdout.length} bytes: the signing key's OpenPGP certificate`);
    await verify(certFile, `${document}.sig`, document);
    await logStep(sshd, vkey, readerKey, document, work);
    const audit = await host.journal.waitFor(/signature issued.*outcome="ok"/);
    say(`== the host's audit entry (syslog, via /dev/log)\n   ${audit.replace(/^<\d+>/, "")}`);
  } finally {
    await host.stop();
    say("== the private host is gone: users, token, secrets, sshd and drop-ins with it");
  }
}

/**
 * The signing log, read as a client reads it: the whole log downloaded through the log_reader role, the
 * signature's inclusion proven by the client command over SSH (and the checkpoint kept for next time), and by
 * Go's sumdb/tlog on the downloaded copy; the copy, the verifier key and the signature left in SIGNSTAR_DEMO_OUT.
 */
async function logStep(sshd: { host: string; port: number; knownHosts: string }, vkey: string, readerKey: SshKey, document: string, work: string): Promise<void> {
  say(`== the signing log, through the log_reader role (${READER}: ForceCommand signstar-download-log, one file per call)`);
  const out = await outputDir(work);
  const logDir = join(out.dir, "log");
  await rm(logDir, { recursive: true, force: true });
  const vkeyFile = join(out.dir, "log.vkey");
  await writeFile(vkeyFile, `${vkey}\n`);
  const signatures = join(out.dir, "signatures");
  await mkdir(signatures, { recursive: true });
  await copyFile(`${document}.sig`, join(signatures, "README.md.sig"));
  const checkpoint = (await readLogFile(sshd, readerKey, "checkpoint")).toString("utf8");
  say(`$ ssh ${READER}@127.0.0.1 checkpoint\n   ${checkpoint.trim().split("\n").join("\n   ")}`);
  const got = await downloadLog(sshd, readerKey, vkey, logDir);
  say(`$ ssh ${READER}@127.0.0.1 tile/…   (${got.files} files, ${got.bytes} bytes: checkpoint, hash tiles, entry bundles of ${got.size} entries)`);

  const started = process.hrtime.bigint();
  const checked = await exec("node", [
    CLIENT, "verify-log", "--host", sshd.host, "--port", String(sshd.port), "--user", READER,
    "--identity", readerKey.privateKeyFile, "--known-hosts", sshd.knownHosts, "--log-key-file", vkeyFile,
    "--checkpoints-dir", join(work, "log-checkpoints"), `${document}.sig`, document,
  ]);
  const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
  say(`$ signstar-request-signature verify-log --host 127.0.0.1 --user ${READER} --log-key-file log.vkey README.md.sig README.md\n   ${checked.stdout.trim()} (${ms} ms)`);

  // The downloaded copy alone proves it too: our verifier on the directory, and Go's.
  const signature = new Uint8Array(await readFile(`${document}.sig`));
  const { index } = logNotationOf(signature);
  const offline = await checkSignatureInLog({ fetch: directoryFetch(logDir), verifierKey: vkey, signature });
  say(`   the downloaded log/ alone: entry ${offline.index} included in the checkpoint of size ${offline.checkpoint.size} (lib/tlog, offline)`);
  const go = await buildGoVerifier();
  try {
    const r = await goVerify(go, logDir, vkey, "inclusion", String(index));
    if (r.code !== 0) throw new Error(`Go's verifier refused the log: ${r.stderr.trim()}`);
    say(`   Go's golang.org/x/mod/sumdb/tlog on log/: ${r.stdout.trim()}`);
  } finally {
    await rm(dirname(go), { recursive: true, force: true });
  }
  if (out.kept) say(`   left in ${out.dir}: log/, log.vkey, signatures/README.md.sig`);
}

async function main(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    throw new Error("the demo needs root: it creates Unix users and runs sshd, inside a private mount namespace");
  }
  const work = await mkdtemp(join(tmpdir(), "signstar-demo-"));
  try {
    await demo(work);
    say("demo finished: the signature verifies with gpg and sqop, and is proven in the host's signing log");
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
