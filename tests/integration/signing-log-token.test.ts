/**
 * The signing log's key on a dedicated PKCS#11 token (signing_log.pkcs11_token; docs/tlog.md, "Where the log key
 * lives"), on a production host (tests/support/production-host.ts) with the installed executables only:
 *
 * config naming the log token → signstar-configure-build (signstar-log joins that token's group) → signstar-configure
 * (initialises the token, generates the Ed25519 key on it, writes the token's user PIN for signstar-log alone,
 * writes log.vkey and prints the verifier key; a second run keeps the key) → the writer started as signstar-log
 * without a key → a client signs → our verifier and Go's prove the entry included with the printed verifier key →
 * the signing user's PIN does not open the log token → a log.vkey naming another key is refused (exit 4, untouched).
 */
import { lstat, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { parseVerifierKey } from "../../lib/tlog/note.js";
import { buildGoVerifier } from "../support/go-tlog-verifier.js";
import { printedVerifierKey, signAndProve } from "../support/log-proof.js";
import { TOKEN_LOG_WRITER_COMMAND, startProductionHost, type ProductionHost, type ProductionSshd } from "../support/production-host.js";
import { softHsmConfig } from "../support/softhsm-config.js";
import { generateSshKey, type SshKey } from "../support/sshd.js";

const SIGNER = "logtok-signer";
const ORIGIN = "logtok.test/signstar-log";
const SIGN_TOKEN = "logtok-sign";
const LOG_TOKEN = "logtok-log";
const LOG_DIR = "/var/lib/signstar/log";
const SECRETS = "/var/lib/signstar/home";

let host: ProductionHost;
let sshd: ProductionSshd;
let work: string;
let go: string;
let key: SshKey;
let vkey: string;

function config(): string {
  return softHsmConfig({
    signingLog: { origin: ORIGIN, pkcs11Token: LOG_TOKEN },
    tokens: [SIGN_TOKEN, LOG_TOKEN],
    signers: [{ user: SIGNER, publicKey: key.publicKey, token: SIGN_TOKEN, key: SIGNER, userId: `${SIGNER} <${SIGNER}@logtok.test>` }],
  });
}

/** The client signs a fresh file as SIGNER; our verifier and Go's prove its entry included with the printed key. */
const signed = (name: string): Promise<number> =>
  signAndProve({ sshd, user: SIGNER, identity: key.privateKeyFile, work, origin: ORIGIN, dir: host.path(LOG_DIR), vkey, go }, name);

/** pkcs11-tool's login to `token`, run as `user`, with the PIN the signing user knows for token `secretOf`. */
async function loginAs(user: string, secretOf: string, token: string): Promise<number | null> {
  const pin = (await readFile(host.path(`${SECRETS}/${SIGNER}/.local/state/signstar/secrets/pkcs11-token-label-${secretOf}.txt`), "utf8")).trim();
  const r = await host.run(["runuser", "-u", user, "--", "pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label", token, "--login", "--pin", pin, "--list-objects"]);
  return r.code;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-logtok-"));
  key = await generateSshKey(work, SIGNER);
  [host, go] = await Promise.all([startProductionHost(), buildGoVerifier()]);
}, 300_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the signing log key on a dedicated PKCS#11 token", () => {
  it("configure-build puts signstar-log into the log token's group; configure makes the key on the token once", async () => {
    await host.writeConfig(config());
    await host.operator("signstar-configure-build");
    const groups = (await host.run(["id", "-nG", "signstar-log"])).stdout.trim().split(" ");
    expect(groups).toContain("softhsm");
    expect(groups.some((g) => g.startsWith("signstar-tok-"))).toBe(true);
    const out = await host.operator("signstar-configure");
    expect(out).toContain(`token label "${LOG_TOKEN}": generate the signing log key label:signstar-log (Ed25519, origin ${ORIGIN})`);
    const printed = printedVerifierKey(out);
    expect(printed).toBeDefined();
    vkey = printed!;
    expect(parseVerifierKey(vkey).name).toBe(ORIGIN);
    expect(await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${vkey}\n`);
    // No key file: the key never leaves the token.
    await expect(lstat(host.path("/var/lib/signstar/log.key"))).rejects.toThrow(/ENOENT/);
    // The token's user PIN is signstar-log's secret alone (0600), the signing user has none for that token.
    const pinFile = await lstat(host.path(`${SECRETS}/signstar-log/.local/state/signstar/secrets/pkcs11-token-label-${LOG_TOKEN}.txt`));
    expect(pinFile.mode & 0o777).toBe(0o600);
    await expect(lstat(host.path(`${SECRETS}/${SIGNER}/.local/state/signstar/secrets/pkcs11-token-label-${LOG_TOKEN}.txt`))).rejects.toThrow(/ENOENT/);
    const again = await host.operator("signstar-configure");
    expect(again).not.toMatch(/generate the signing log key/);
    expect(again).toContain(`info: signing log verifier key ${vkey}\n`);
  }, 300_000);

  it("the writer runs as signstar-log without a key file; a signature is proven included by our verifier and Go's", async () => {
    await host.startLogWriter({ command: TOKEN_LOG_WRITER_COMMAND });
    expect((await host.run(["pgrep", "-u", "signstar-log", "-f", "signstar-log-writer"])).code).toBe(0);
    sshd = await host.startSshd();
    await signed("release");
  }, 180_000);

  it("a configure run that gives the log token a new user PIN while the writer runs does not stop the log", async () => {
    const pinFile = host.path(`${SECRETS}/signstar-log/.local/state/signstar/secrets/pkcs11-token-label-${LOG_TOKEN}.txt`);
    const before = await readFile(pinFile, "utf8");
    await host.operator("signstar-configure");
    expect(await readFile(pinFile, "utf8")).not.toBe(before);
    await signed("after-rotation");
  }, 180_000);

  it("the signing user's PIN opens its own token but not the log token (not even as root, who sees every token)", async () => {
    expect(await loginAs(SIGNER, SIGN_TOKEN, SIGN_TOKEN)).toBe(0);
    expect(await loginAs(SIGNER, SIGN_TOKEN, LOG_TOKEN)).not.toBe(0);
    expect(await loginAs("root", SIGN_TOKEN, SIGN_TOKEN)).toBe(0);
    expect(await loginAs("root", SIGN_TOKEN, LOG_TOKEN)).not.toBe(0);
  }, 60_000);

  it("a log.vkey that names another key is refused before any change: one line, exit 4", async () => {
    await host.stopLogWriter();
    const other = "logtok.test/signstar-log+00000000+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijk";
    await writeFile(host.path("/var/lib/signstar/log.vkey"), `${other}\n`, { mode: 0o644 });
    const r = await host.tool("signstar-configure");
    expect(r.code).toBe(ExitCode.Config);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/is not that of the key label:signstar-log on token "logtok-log"/);
    expect(r.stdout).not.toMatch(/^(plan|apply|info: signing log)/m);
    expect(await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${other}\n`);
  }, 120_000);
});
