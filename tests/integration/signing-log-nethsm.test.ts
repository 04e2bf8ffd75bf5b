/**
 * The signing log's key on the NetHSM (signing_log.nethsm_user / nethsm_key; docs/tlog.md, "Where the log key
 * lives"), on a production host (tests/support/production-host.ts) with the installed executables and the NetHSM
 * stand-in (tests/support/nethsm-standin, the official OpenAPI file's behaviour), in the operator's order:
 *
 * config → signstar-configure-build → signstar-configure (provisions the NetHSM, makes the signing user's key and the
 * log key — Ed25519, tagged with its own id — and the log's Operator carrying that tag alone, whose passphrase only
 * signstar-log gets; writes log.vkey, prints the verifier key) → the writer started as signstar-log without a key →
 * a client signs → our verifier and Go's prove the entry included with the printed key → signstar-configure again
 * (it gives the writer's NetHSM user a new passphrase) while the writer runs → the next signature is logged too,
 * under the same key → the signing user's passphrase cannot sign with the log key (403) → a log.vkey naming
 * another key is refused before any change (exit 4).
 */
import { lstat, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetHsmClient, NetHsmHttpError } from "../../lib/backends/nethsm/index.js";
import { parseConfig } from "../../lib/config/load.js";
import { ExitCode } from "../../lib/errors.js";
import { formatVerifierKey, parseVerifierKey } from "../../lib/tlog/note.js";
import { buildGoVerifier } from "../support/go-tlog-verifier.js";
import { printedVerifierKey, signAndProve } from "../support/log-proof.js";
import { startStandIn, type StandIn } from "../support/nethsm-standin/index.js";
import { TOKEN_LOG_WRITER_COMMAND, startProductionHost, type ProductionHost, type ProductionSshd } from "../support/production-host.js";
import { netHsmLogConfig } from "../support/nethsm-config.js";
import { generateSshKey, type SshKey } from "../support/sshd.js";

const SIGNER = "lognh-signer";
const SIGNER_OPERATOR = "lognhsigner";
const LOG_USER = "lognhwriter";
const LOG_KEY = "lognhkey";
const ORIGIN = "lognh.test/signstar-log";
const LOG_DIR = "/var/lib/signstar/log";
const SECRETS = "/var/lib/signstar/home";

let host: ProductionHost;
let standIn: StandIn;
let sshd: ProductionSshd;
let work: string;
let go: string;
let key: SshKey;
let vkey: string;

function config(): string {
  return netHsmLogConfig({
    url: standIn.url,
    fingerprint: standIn.tls.fingerprint,
    signingLog: { origin: ORIGIN, nethsmUser: LOG_USER, nethsmKey: LOG_KEY },
    signers: [{ user: SIGNER, publicKey: key.publicKey, operator: SIGNER_OPERATOR, userId: `${SIGNER} <${SIGNER}@lognh.test>` }],
  });
}

const secretOf = (user: string, backendUser: string): string => host.path(`${SECRETS}/${user}/.local/state/signstar/secrets/${backendUser}.txt`);

/** The client signs a fresh file as SIGNER; our verifier and Go's prove its entry included with the printed key. */
const signed = (name: string): Promise<number> =>
  signAndProve({ sshd, user: SIGNER, identity: key.privateKeyFile, work, origin: ORIGIN, dir: host.path(LOG_DIR), vkey, go }, name);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-lognh-"));
  key = await generateSshKey(work, SIGNER);
  [host, go, standIn] = await Promise.all([startProductionHost(), buildGoVerifier(), startStandIn({ rateLimitMs: 1000 })]);
}, 300_000);

afterAll(async () => {
  await host?.stop();
  await standIn?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the signing log key on the NetHSM", () => {
  it("configure before configure-build (no signstar-log yet) is refused before the NetHSM is touched: one line, exit 4", async () => {
    await host.writeConfig(config());
    const r = await host.tool("signstar-configure");
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/the Unix users? .*"signstar-log".* not exist: run signstar-configure-build first/);
    expect(r.stdout).not.toMatch(/^(plan|apply)/m);
    expect(standIn.device.state).toBe("Unprovisioned");
  }, 120_000);

  it("configure makes the log key and its Operator on the NetHSM once; only signstar-log gets the passphrase", async () => {
    await host.writeConfig(config());
    await host.operator("signstar-configure-build");
    const dropIn = await readFile(host.path("/etc/systemd/system/signstar-log-writer.service.d/10-signstar-log-key.conf"), "utf8");
    expect(dropIn).toContain("LoadCredential=\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n");
    const out = await host.operator("signstar-configure");
    expect(out).toContain(`NetHSM: generate the signing log key ${LOG_KEY} (Ed25519) with tag ${LOG_KEY}`);
    expect(out).toContain(`NetHSM: tag user ${LOG_USER} with ${LOG_KEY}`);
    const printed = printedVerifierKey(out);
    expect(printed).toBeDefined();
    vkey = printed!;
    expect(parseVerifierKey(vkey).name).toBe(ORIGIN);
    expect(await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${vkey}\n`);
    // The device's key is the one printed: its public key, read as the stand-in holds it.
    const admin = new NetHsmClient({ connections: parseConfig(config(), "test").nethsm!.connections, credentials: { user: "admin", passphrase: await adminPassphrase() } });
    try {
      const details = await admin.getKey(LOG_KEY);
      expect(details.type).toBe("Curve25519");
      expect(details.restrictions.tags).toEqual([LOG_KEY]);
      expect(formatVerifierKey(ORIGIN, Buffer.from(details.public!.data!, "base64"))).toBe(vkey);
      expect(await admin.getUserTags(LOG_USER)).toEqual([LOG_KEY]);
      // No OpenPGP certificate for the log key: it signs checkpoints only.
      expect(await admin.getKeyCertificate(LOG_KEY).catch(() => undefined)).toBeUndefined();
    } finally {
      admin.close();
    }
    // No key file; the passphrase is signstar-log's alone (0600), the signing user has none for the log's Operator.
    await expect(lstat(host.path("/var/lib/signstar/log.key"))).rejects.toThrow(/ENOENT/);
    expect((await lstat(secretOf("signstar-log", LOG_USER))).mode & 0o777).toBe(0o600);
    await expect(lstat(secretOf(SIGNER, LOG_USER))).rejects.toThrow(/ENOENT/);
    const again = await host.operator("signstar-configure");
    expect(again).not.toMatch(/generate the signing log key/);
    expect(again).toContain(`info: signing log verifier key ${vkey}\n`);
  }, 300_000);

  it("the writer signs checkpoints through the NetHSM; a signature is proven included by our verifier and Go's", async () => {
    await host.startLogWriter({ command: TOKEN_LOG_WRITER_COMMAND });
    expect((await host.run(["pgrep", "-u", "signstar-log", "-f", "signstar-log-writer"])).code).toBe(0);
    sshd = await host.startSshd();
    await signed("first");
  }, 180_000);

  it("a configure run that gives the writer's NetHSM user a new passphrase does not stop the log: the next signature is logged", async () => {
    const before = await readFile(secretOf("signstar-log", LOG_USER), "utf8");
    await host.operator("signstar-configure");
    expect(await readFile(secretOf("signstar-log", LOG_USER), "utf8")).not.toBe(before);
    // The running writer's session is refused now; it re-opens the key with the new passphrase and signs again.
    await signed("after-rotation");
    await host.journal.waitFor(new RegExp(`signing log: re-opened the NetHSM key ${LOG_KEY} after: .*401`), 10_000);
  }, 180_000);

  it("the signing user's passphrase cannot sign with the log key: the NetHSM refuses (tags do not meet)", async () => {
    const passphrase = (await readFile(secretOf(SIGNER, SIGNER_OPERATOR), "utf8")).trim();
    const client = new NetHsmClient({ connections: parseConfig(config(), "test").nethsm!.connections, credentials: { user: SIGNER_OPERATOR, passphrase } });
    try {
      const refused = await client.sign(LOG_KEY, "EdDSA", Buffer.from("forged checkpoint\n")).then(() => undefined, (e: unknown) => e);
      expect(refused).toBeInstanceOf(NetHsmHttpError);
      expect((refused as NetHsmHttpError).status).toBe(403);
    } finally {
      client.close();
    }
  }, 60_000);

  it("a log.vkey that names another key is refused before any change: one line, exit 4", async () => {
    await host.stopLogWriter();
    const other = "lognh.test/signstar-log+00000000+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijk";
    await writeFile(host.path("/var/lib/signstar/log.vkey"), `${other}\n`, { mode: 0o644 });
    const passphraseBefore = await readFile(secretOf(SIGNER, SIGNER_OPERATOR), "utf8");
    const r = await host.tool("signstar-configure");
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`is not that of the NetHSM key ${LOG_KEY} \\(${vkey.replace(/[+/]/g, "\\$&")}\\)`));
    expect(r.stdout).not.toMatch(/^(plan|apply|info: signing log)/m);
    expect(await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${other}\n`);
    // No user got a new passphrase.
    expect(await readFile(secretOf(SIGNER, SIGNER_OPERATOR), "utf8")).toBe(passphraseBefore);
  }, 120_000);
});

/** The NetHSM admin passphrase configure generated (plaintext admin secret handling), for reading the device. */
async function adminPassphrase(): Promise<string> {
  const { parseAdminCredentials } = await import("../../lib/secrets/admin-credentials.js");
  const text = await readFile(host.path("/var/lib/signstar/creds/admin-credentials.toml"), "utf8");
  const admin = parseAdminCredentials(text).nethsm?.administrators.find((a) => a.name === "admin");
  return admin!.passphrase;
}
