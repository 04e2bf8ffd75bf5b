/**
 * The operator's production flow, exactly as README and docs/ describe it, on a host that has nothing but the
 * installed executables (tests/support/production-host.ts): Debian's default SoftHSM configuration, Debian's
 * sshd_config, /dev/log, and a config in /etc/signstar/config.toml.
 *
 * config → signstar-config check → signstar-configure-build → signstar-configure → sshd → sign as each signer
 * (Ed25519, P-256, RSA; verified by gpg and sqop) → key certificates → metrics (a [pkcs11] metrics user: the
 * signatures just made, token facts; promtool) → shares: download, confirm, upload 2 of 3 → a new signer:
 * configure-build → reload sshd → configure → it signs.
 *
 * Nothing here provisions a token, key, user or secret: if an operator would hit a bug, this test does.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProductionHost, type ProductionHost, type ProductionSshd } from "../support/production-host.js";
import { generateSshKey, runSsh, type SshKey } from "../support/sshd.js";
import { KEY_SETUPS, type SignerKind } from "../support/signing-host.js";
import { run } from "../support/run.js";
import { parseVerifierKey } from "../../lib/tlog/note.js";
import { buildGoVerifier } from "../support/go-tlog-verifier.js";
import { logIndexOf, printedVerifierKey, provenIncluded, sendForSigning } from "../support/log-proof.js";

const exec = promisify(execFile);

interface Signer {
  readonly user: string;
  readonly kind: SignerKind;
}
const SIGNERS: readonly Signer[] = [
  { user: "release-ed25519", kind: "ed25519" },
  { user: "release-p256", kind: "p256" },
  { user: "release-rsa", kind: "rsa2048" },
];
const LATE: Signer = { user: "release-late", kind: "ed25519" };
const HOLDERS = ["holder-ann", "holder-bob", "holder-cem"] as const;
const CERTS = "key-certificates";
const LOG_ORIGIN = "release.test/signstar-log";
const LOG_DIR = "/var/lib/signstar/log";
const METRICS = "release-metrics";

let host: ProductionHost;
let sshd: ProductionSshd;
let work: string;
const keys = new Map<string, SshKey>();
const shares = new Map<string, string>();
let signed = 0;
/** The signing log's verifier key, as signstar-configure printed it. */
let logKey: string;
let go: string;
/** Signatures each user got, as the client saw them. */
const signedBy = new Map<string, number>();

function config(signers: readonly Signer[]): string {
  const lines = [
    "[system]",
    "iteration = 1",
    'admin_secret_handling = { shamirs-secret-sharing = { number_of_shares = 3, threshold = 2 } }',
    'non_admin_secret_handling = "plaintext"',
    `signing_log = { origin = "${LOG_ORIGIN}" }`,
    ...HOLDERS.flatMap((h) => ["", "[[system.mappings]]", `share_holder = { system_user = "${h}", ssh_authorized_key = "${keys.get(h)!.publicKey}" }`]),
    "",
    "[pkcs11]",
    'module = "/usr/lib/softhsm/libsofthsm2.so"',
    "",
    "[[pkcs11.mappings]]",
    'admin = { token = { label = "release" } }',
    ...signers.flatMap((s) => [
      "",
      "[[pkcs11.mappings]]",
      `signing = { system_user = "${s.user}", ssh_authorized_key = "${keys.get(s.user)!.publicKey}", token = { label = "release" }, key = { label = "${s.user}" }, ` +
        `key_setup = ${KEY_SETUPS[s.kind]}, key_context = { openpgp = { user_ids = ["${s.user} <${s.user}@release.test>"], version = "4" } } } }`,
    ]),
    "",
    "[[pkcs11.mappings]]",
    `key_certificates = { system_user = "${CERTS}", ssh_authorized_key = "${keys.get(CERTS)!.publicKey}" }`,
    "",
    "[[pkcs11.mappings]]",
    `metrics = { system_user = "${METRICS}", ssh_authorized_key = "${keys.get(METRICS)!.publicKey}" }`,
    "",
  ];
  return lines.join("\n");
}

/** One scrape by the metrics user over SSH, checked by promtool. */
async function scrape(): Promise<string> {
  const r = await ssh(METRICS);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const check = await run("promtool", ["check", "metrics"], { input: r.stdout });
  expect(check.stdout + check.stderr).toBe("");
  expect(check.code).toBe(0);
  return r.stdout;
}

function ssh(user: string, opts: { command?: string[]; input?: string } = {}) {
  return runSsh({ sshd, user, identity: keys.get(user)!.privateKeyFile, ...opts });
}

/** The client sends a fresh file to be signed as `user`. */
async function send(user: string): Promise<{ r: Awaited<ReturnType<typeof run>>; data: string }> {
  signed += 1;
  const data = join(work, `${user}-${signed}.txt`);
  await writeFile(data, `signed by ${user} at ${Date.now()}\n`);
  return { r: await sendForSigning(sshd, user, keys.get(user)!.privateKeyFile, data), data };
}

/** The client signs a fresh file as `user`; returns the file and its signature. */
async function sign(user: string): Promise<{ data: string; sig: string }> {
  const { r, data } = await send(user);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(`${data}.sig\n`);
  signedBy.set(user, (signedBy.get(user) ?? 0) + 1);
  return { data, sig: `${data}.sig` };
}

/** gpg and sqop both verify `sig` over `data` with the keyring the key-certificates user serves. */
async function verifyWithKeyring(sig: string, data: string): Promise<void> {
  const keyring = await ssh(CERTS);
  expect(keyring.code).toBe(0);
  const certs = join(work, "keyring.asc");
  await writeFile(certs, keyring.stdout);
  const gnupg = await mkdtemp(join(tmpdir(), "signstar-flow-gpg-"));
  try {
    const env = { ...process.env, GNUPGHOME: gnupg };
    await exec("gpg", ["--batch", "--quiet", "--import", certs], { env });
    const gpg = await exec("gpg", ["--batch", "--verify", sig, data], { env });
    expect(gpg.stderr).toMatch(/Good signature/);
  } finally {
    await exec("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"]).catch(() => undefined);
    await rm(gnupg, { recursive: true, force: true });
  }
  await exec("sh", ["-c", 'sqop verify "$1" "$2" < "$3"', "sh", sig, certs, data]);
}

/** The signature's log notation names an entry of `user` that our verifier and Go's prove included. */
async function provenInLog(sig: string, user: string): Promise<void> {
  await provenIncluded({ dir: host.path(LOG_DIR), vkey: logKey, go, index: await logIndexOf(sig, LOG_ORIGIN), user });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-flow-"));
  for (const user of [...SIGNERS.map((s) => s.user), LATE.user, ...HOLDERS, CERTS, METRICS]) keys.set(user, await generateSshKey(work, user));
  [host, go] = await Promise.all([startProductionHost(), buildGoVerifier()]);
}, 300_000);

afterAll(async () => {
  await host?.stop();
  await rm(work, { recursive: true, force: true });
});

describe("the production flow on SoftHSM, as an operator runs it", () => {
  it("config → check → configure-build → configure → sshd", async () => {
    await host.writeConfig(config(SIGNERS));
    expect(await host.operator("signstar-config", ["check"])).toMatch(/^\/etc\/signstar\/config\.toml: valid/);
    await host.operator("signstar-configure-build");
    const configured = await host.operator("signstar-configure");
    expect(configured).toMatch(/^done: generate admin credentials, split them into 3 shares \(threshold 2\)/m);
    for (const s of SIGNERS) expect(configured).toMatch(new RegExp(`^done: .*generate key and its OpenPGP certificate label:${s.user} for ${s.user}$`, "m"));
    logKey = printedVerifierKey(configured) ?? "";
    expect(parseVerifierKey(logKey).name).toBe(LOG_ORIGIN);
    // No systemd on this host: the writer is started as docs/tlog.md tells the operator.
    await host.startLogWriter();
    sshd = await host.startSshd();
  }, 120_000);

  it("every signer signs over SSH; gpg and sqop verify with the served keyring; each signature is audited and in the log", async () => {
    for (const s of SIGNERS) {
      const { data, sig } = await sign(s.user);
      await verifyWithKeyring(sig, data);
      await provenInLog(sig, s.user);
      await host.journal.waitFor(new RegExp(`user="${s.user}".*outcome="ok"|outcome="ok".*user="${s.user}"`));
    }
  }, 120_000);

  it("the key-certificates user serves one certificate per signing key", async () => {
    const keyring = await ssh(CERTS);
    expect(keyring.stderr).toBe("");
    const gnupg = await mkdtemp(join(tmpdir(), "signstar-flow-gpg-"));
    try {
      const shown = await run("gpg", ["--batch", "--with-colons", "--show-keys"], { input: keyring.stdout, env: { ...process.env, GNUPGHOME: gnupg } });
      expect(shown.stdout.split("\n").filter((l) => l.startsWith("pub:"))).toHaveLength(SIGNERS.length);
    } finally {
      await rm(gnupg, { recursive: true, force: true });
    }
  });

  it("the metrics user downloads the host's figures over SSH: the signatures just made, the token; promtool accepts them", async () => {
    const text = await scrape();
    for (const s of SIGNERS) {
      const key = `pkcs11:token(label=release):key(label=${s.user})`;
      expect(text).toContain(`signstar_signatures_total{key="${key}",outcome="ok",user="${s.user}"} ${signedBy.get(s.user)}\n`);
      expect(text).toContain(`signstar_signatures_total{key="${key}",outcome="error",user="${s.user}"} 0\n`);
      expect(text).toMatch(new RegExp(`^signstar_signature_last_success_timestamp_seconds\\{key="[^"]+",user="${s.user}"\\} \\d{10}$`, "m"));
      expect(text).toContain(`signstar_source_up{source="host_counters",user="${s.user}"} 1\n`);
    }
    expect(text).toContain(`signstar_pkcs11_token_configured_keys{token="release"} ${SIGNERS.length}\n`);
    expect(text).toContain(`signstar_pkcs11_token_public_keys{token="release"} ${SIGNERS.length}\n`);
    expect(text).toContain(`signstar_pkcs11_token_certificates{token="release"} ${SIGNERS.length}\n`);
    expect(text).toContain('signstar_source_up{source="pkcs11_token",token="release"} 1\n');
    expect(text).toMatch(/^signstar_share_unconfirmed\{holder="holder-ann",set="[^"]+",state="pending"\} 1$/m);
    // No NetHSM on this host, and the mapping holds no NetHSM credentials: no NetHSM source at all.
    expect(text).not.toMatch(/nethsm/);
  }, 60_000);

  it("each holder downloads its share and confirms it", async () => {
    for (const h of HOLDERS) {
      const r = await ssh(h);
      expect(r.code).toBe(0);
      const code = /confirm ([0-9a-f]{8})$/m.exec(r.stderr)?.[1];
      expect(code).toBeDefined();
      shares.set(h, r.stdout.trim());
      const ok = await ssh(h, { command: ["confirm", code!] });
      expect(ok.code).toBe(0);
    }
  }, 60_000);

  it("a new signer: configure-build → reload sshd → two holders upload → configure → it signs", async () => {
    await host.writeConfig(config([...SIGNERS, LATE]));
    await host.operator("signstar-configure-build");
    await host.reloadSshd();
    // Until configure made its key, the keyring serves the others and names the missing one (issue 12.13).
    const partial = await ssh(CERTS);
    expect(partial.code).toBe(0);
    expect(partial.stderr).toMatch(new RegExp(`^signstar-download-key-certificates: left out: .*label:${LATE.user}.*; run signstar-configure\n$`));
    expect(partial.stdout).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    // Until configure gave it its secret, the new signer's requests are refused, and counted as failures.
    const early = await send(LATE.user);
    expect(early.r.code).not.toBe(0);
    expect(early.r.stdout).toBe("");
    for (const h of HOLDERS.slice(0, 2)) {
      const r = await ssh(h, { command: ["upload"], input: `${shares.get(h)!}\n` });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    const configured = await host.operator("signstar-configure");
    expect(configured).toMatch(new RegExp(`^done: .*generate key and its OpenPGP certificate label:${LATE.user} for ${LATE.user}$`, "m"));
    const { data, sig } = await sign(LATE.user);
    await verifyWithKeyring(sig, data);
    await provenInLog(sig, LATE.user);
    // The earlier signers still sign after a run that wrote new token files.
    await sign(SIGNERS[0]!.user);
    const text = await scrape();
    for (const s of [...SIGNERS, LATE]) {
      expect(text).toContain(`signstar_signatures_total{key="pkcs11:token(label=release):key(label=${s.user})",outcome="ok",user="${s.user}"} ${signedBy.get(s.user)}\n`);
    }
    expect(text).toContain(`signstar_signatures_total{key="pkcs11:token(label=release):key(label=${LATE.user})",outcome="error",user="${LATE.user}"} 1\n`);
    expect(text).toMatch(new RegExp(`^signstar_signature_last_failure_timestamp_seconds\\{key="[^"]+",user="${LATE.user}"\\} \\d{10}$`, "m"));
  }, 180_000);
});
