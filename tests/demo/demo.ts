/**
 * The demo: the production flow on the embedded default backend (SoftHSMv2), as an operator runs it, then a
 * client signing README.md and verifying the signature with gpg and sqop. The example configuration enables the
 * signing log: signstar-configure makes the log key, the log writer runs as signstar-log, and every signature is
 * logged before the client gets it.
 *
 * It runs on a private host (tests/support/production-host.ts): /etc, /usr and /var are copy-on-write views of
 * this machine, /run and /dev are fresh, the executables are linked into /usr/bin like the package installs
 * them. Nothing is provisioned by the demo itself: the token, the key, its certificate, the Unix users, their
 * secrets and sshd's drop-ins all come from signstar-configure-build and signstar-configure. When it ends, the
 * private host and everything in it are gone.
 */
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../support/repo.js";
import { startProductionHost, type ProductionHost } from "../support/production-host.js";
import { generateSshKey, runSsh } from "../support/sshd.js";

const exec = promisify(execFile);
const say = (text: string): void => void process.stdout.write(`${text}\n`);
const SIGNER = "signstar-signer";
const CERTS = "signstar-certs";

/** Fails with the tool's own stderr line when it does not exit 0; returns its stdout. */
async function operator(host: ProductionHost, name: string, args: readonly string[] = []): Promise<string> {
  const result = await host.tool(name, args);
  if (result.code !== 0) throw new Error(`${name} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** The config an operator writes: the shipped example, with this demo's client keys and a key-certificates user. */
async function demoConfig(signerKey: string, certsKey: string): Promise<string> {
  const example = await readFile(join(REPO_ROOT, "config", "example-softhsm.toml"), "utf8");
  const withKey = example.replace(/^ssh_authorized_key = ".*"$/m, `ssh_authorized_key = "${signerKey}"`);
  return `${withKey}
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

async function demo(work: string): Promise<void> {
  const client = join(work, "client");
  await exec("mkdir", ["-m", "0700", client]);
  const signerKey = await generateSshKey(client, "signer");
  const certsKey = await generateSshKey(client, "certs");
  const document = join(client, "README.md");
  await copyFile(join(REPO_ROOT, "README.md"), document);

  say("== a private host: /etc, /usr, /var copy-on-write over this machine's; /run and /dev fresh");
  const host = await startProductionHost();
  try {
    say("   Signstar's executables linked into /usr/bin, as the package installs them");
    await host.writeConfig(await demoConfig(signerKey.publicKey, certsKey.publicKey));
    say(`== the operator writes /etc/signstar/config.toml (config/example-softhsm.toml + a key-certificates user)`);
    say(`$ signstar-config check\n   ${(await operator(host, "signstar-config", ["check"])).trim().split("\n").join("\n   ")}`);
    await operator(host, "signstar-configure-build");
    say(`$ signstar-configure-build\n   users ${SIGNER} and ${CERTS}, their authorized_keys, sshd drop-ins (validated), tmpfiles.d`);
    const configured = (await operator(host, "signstar-configure")).trim();
    say(`$ signstar-configure\n   ${configured.split("\n").slice(0, 8).join("\n   ")}`);
    const vkey = /^info: signing log verifier key (\S+)$/m.exec(configured)?.[1];
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
    const audit = await host.journal.waitFor(/outcome="ok"/);
    say(`== the host's audit entry (syslog, via /dev/log)\n   ${audit.replace(/^<\d+>/, "")}`);
  } finally {
    await host.stop();
    say("== the private host is gone: users, token, secrets, sshd and drop-ins with it");
  }
}

async function main(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    throw new Error("the demo needs root: it creates Unix users and runs sshd, inside a private mount namespace");
  }
  const work = await mkdtemp(join(tmpdir(), "signstar-demo-"));
  try {
    await demo(work);
    say("demo finished: the signature verifies with gpg and sqop");
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
