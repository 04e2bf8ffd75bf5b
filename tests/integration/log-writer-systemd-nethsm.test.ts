/**
 * The signing log's writer under a booted systemd (tests/support/booted-systemd.ts) with the log key on the NetHSM
 * (signing_log.nethsm_user / nethsm_key; docs/tlog.md, "Where the log key lives"). The NetHSM stand-in runs inside
 * the booted system, as a transient unit on 127.0.0.1 of its private network, and the operator works in order:
 *
 * config (its `[nethsm]` connection pins the stand-in's certificate) → signstar-configure-build (its drop-in clears
 * LoadCredential and allows AF_INET/AF_INET6 besides the shipped unit's AF_UNIX) → signstar-configure (provisions the
 * stand-in, makes the log key and its Operator) → daemon-reload, the socket → a client signs over the booted
 * system's sshd: the socket starts the writer as signstar-log without credentials, it signs the checkpoint through
 * the NetHSM over HTTPS, and our verifier and Go's prove the entry included with the printed verifier key.
 *
 * Then the drop-in's address families are shown to matter: a second drop-in that resets RestrictAddressFamilies to
 * the shipped AF_UNIX leaves the writer unable to open a socket to the NetHSM (EAFNOSUPPORT in its journal), and
 * signing fails closed with nothing returned to the client; without that override signing works again.
 */
import { lstat, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch, fetchCheckpoint } from "../../lib/tlog/reader.js";
import { installSignstar, operatorIn, sendInside, unitProperty } from "../support/booted-signstar.js";
import { bootSystemd, type BootedSystemd } from "../support/booted-systemd.js";
import { buildGoVerifier } from "../support/go-tlog-verifier.js";
import { logIndexOf, printedVerifierKey, provenIncluded } from "../support/log-proof.js";
import { REPO_ROOT } from "../support/repo.js";
import { netHsmLogConfig } from "../support/nethsm-config.js";
import { generateSshKey, type SshKey } from "../support/sshd.js";

const SIGNER = "lwsdn-signer";
const SIGNER_OPERATOR = "lwsdnsigner";
const LOG_USER = "lwsdnwriter";
const LOG_KEY = "lwsdnkey";
const ORIGIN = "lwsdn.test/signstar-log";
const LOG_DIR = "/var/lib/signstar/log";
const WRITER = "signstar-log-writer.service";
const SOCKET = "signstar-log-writer.socket";
const DROP_IN_DIR = "/etc/systemd/system/signstar-log-writer.service.d";
/** The test's own override: the shipped unit's address families again, after configure-build's drop-in. */
const AF_UNIX_ONLY = `${DROP_IN_DIR}/90-lwsdn-af-unix-only.conf`;
/** The test's files inside the container. */
const WORK = "/var/tmp/signstar-lwsdn";
/** The stand-in's transient unit inside the booted system (it dies with the container). */
const STAND_IN_UNIT = "lwsdn-nethsm-standin.service";
const STAND_IN_MAIN = join(REPO_ROOT, "dist", "tests", "support", "nethsm-standin", "main.js");

let sys: BootedSystemd;
let go: string;
let key: SshKey;
let standIn: { readonly url: string; readonly fingerprint: string };
let vkey: string;

const operator = (argv: string[]): Promise<string> => operatorIn(sys, argv);
const show = (unit: string, property: string): Promise<string> => unitProperty(sys, unit, property);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the stand-in inside the booted system (`systemd-run`, port 0 on 127.0.0.1 of the container's network) and
 * reads its URL and certificate fingerprint from the lines main.ts prints, which the unit's journal holds.
 */
async function startStandInInside(): Promise<{ url: string; fingerprint: string }> {
  await operator(["systemd-run", "--quiet", `--unit=${STAND_IN_UNIT}`, process.execPath, STAND_IN_MAIN, "--host", "127.0.0.1", "--port", "0"]);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const journal = (await sys.run(["journalctl", "--no-pager", "-o", "cat", "-u", STAND_IN_UNIT])).stdout;
    const url = /^NetHSM stand-in listening on (https:\/\/127\.0\.0\.1:\d+\/api\/v1)$/m.exec(journal)?.[1];
    const fingerprint = /^TLS certificate sha256 ([0-9a-f]{64})$/m.exec(journal)?.[1];
    if (url !== undefined && fingerprint !== undefined) return { url, fingerprint };
    if (Date.now() > deadline) throw new Error(`the stand-in did not report its URL: ${journal}`);
    await sleep(200);
  }
}

/** /etc/signstar/config.toml: the log key and its Operator on the NetHSM, one signing user with an Ed25519 key there. */
async function writeConfig(): Promise<void> {
  const config = netHsmLogConfig({
    url: standIn.url,
    fingerprint: standIn.fingerprint,
    signingLog: { origin: ORIGIN, nethsmUser: LOG_USER, nethsmKey: LOG_KEY },
    signers: [{ user: SIGNER, publicKey: key.publicKey, operator: SIGNER_OPERATOR, userId: `${SIGNER} <${SIGNER}@lwsdn.test>` }],
  });
  await mkdir(sys.path("/etc/signstar"), { recursive: true, mode: 0o755 });
  await writeFile(sys.path("/etc/signstar/config.toml"), config, { mode: 0o644 });
}

/** The installed client signs WORK/<name> over the booted system's sshd; the entry is proven included by both verifiers. */
async function signAndProve(name: string): Promise<void> {
  const sent = await sendInside(sys, { work: WORK, user: SIGNER, name });
  expect(sent.stderr).toBe("");
  expect(sent.code).toBe(0);
  const index = await logIndexOf(sys.path(`${WORK}/${name}.sig`), ORIGIN);
  const { checkpoint } = await fetchCheckpoint(directoryFetch(sys.path(LOG_DIR)), parseVerifierKey(vkey));
  expect(checkpoint.origin).toBe(ORIGIN);
  expect(index).toBeLessThan(checkpoint.size);
  await provenIncluded({ dir: sys.path(LOG_DIR), vkey, go, index, user: SIGNER });
}

/** The writer runs as signstar-log, was not restarted, and got no credentials (no key file exists to hand over). */
async function expectWriterRunningWithoutCredentials(): Promise<void> {
  expect(await show(WRITER, "ActiveState")).toBe("active");
  expect(await show(WRITER, "NRestarts")).toBe("0");
  const mainPid = await show(WRITER, "MainPID");
  expect(Number(mainPid)).toBeGreaterThan(0);
  expect((await operator(["ps", "-o", "user=", "-p", mainPid])).trim()).toBe("signstar-log");
  expect((await sys.run(["ls", `/run/credentials/${WRITER}`])).code).not.toBe(0);
}

beforeAll(async () => {
  [sys, go] = await Promise.all([bootSystemd(), buildGoVerifier()]);
  await installSignstar(sys);
  await mkdir(sys.path(WORK), { mode: 0o700 });
  key = await generateSshKey(sys.path(WORK), SIGNER);
  standIn = await startStandInInside();
}, 300_000);

afterAll(async () => {
  await sys?.stop();
});

describe("the log writer under a booted systemd with the log key on the NetHSM", () => {
  it("the stand-in runs inside the booted system, on its private network", async () => {
    expect(await show(STAND_IN_UNIT, "ActiveState")).toBe("active");
    // Reachable inside (the container's loopback), with the certificate main.ts reported.
    const r = await sys.run(["curl", "--silent", "--insecure", "--max-time", "10", "--write-out", "%{http_code}", "--output", "/dev/null", `${standIn.url}/health/state`]);
    expect(r.stdout).toBe("200");
  });

  it("configure-build, configure (provisions the stand-in), the socket; the first signature starts the writer, which signs through the NetHSM", async () => {
    await writeConfig();
    await operator(["signstar-configure-build"]);
    expect(await readFile(sys.path(`${DROP_IN_DIR}/10-signstar-log-key.conf`), "utf8")).toContain("LoadCredential=\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n");
    const configured = await operator(["signstar-configure"]);
    expect(configured).toContain(`NetHSM: generate the signing log key ${LOG_KEY} (Ed25519) with tag ${LOG_KEY}`);
    const printed = printedVerifierKey(configured);
    expect(printed).toBeDefined();
    vkey = printed!;
    expect(await readFile(sys.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${vkey}\n`);
    await expect(lstat(sys.path("/var/lib/signstar/log.key"))).rejects.toThrow(/ENOENT/);

    await sys.systemctl("daemon-reload");
    expect(await show(WRITER, "RestrictAddressFamilies")).toBe("AF_INET AF_INET6 AF_UNIX");
    await sys.systemctl("start", SOCKET);
    expect(await show(WRITER, "ActiveState")).toBe("inactive");
    await sys.systemctl("reload", "ssh");

    await signAndProve("release.tar");
    await expectWriterRunningWithoutCredentials();
  }, 240_000);

  it("without the drop-in's AF_INET/AF_INET6 the writer cannot reach the NetHSM: signing fails closed; without the override it works again", async () => {
    await sys.systemctl("stop", WRITER);
    await writeFile(sys.path(AF_UNIX_ONLY), "[Service]\nRestrictAddressFamilies=\nRestrictAddressFamilies=AF_UNIX\n", { mode: 0o644 });
    await sys.systemctl("daemon-reload");
    expect(await show(WRITER, "RestrictAddressFamilies")).toBe("AF_UNIX");
    const sizeBefore = (await fetchCheckpoint(directoryFetch(sys.path(LOG_DIR)), parseVerifierKey(vkey))).checkpoint.size;

    const refused = await sendInside(sys, { work: WORK, user: SIGNER, name: "refused.tar" });
    // The signing host's ForceCommand could not log the signature, so it returned none: one line, exit 8 (Remote).
    expect(refused.code).toBe(ExitCode.Remote);
    expect(refused.stdout).toBe("");
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/signstar-download-signature: the log writer connection failed/);
    await expect(lstat(sys.path(`${WORK}/refused.tar.sig`))).rejects.toThrow(/ENOENT/);
    // The writer's own line says why: the kernel refused it an IP socket to the NetHSM. Restart=on-failure tried
    // again until the start limit, which leaves the service and its socket failed.
    const journal = (await sys.run(["journalctl", "--no-pager", "-o", "cat", "-u", WRITER])).stdout;
    expect(journal).toMatch(/^signstar-log-writer: NetHSM https:\/\/127\.0\.0\.1:\d+\/api\/v1: connection failed: connect EAFNOSUPPORT 127\.0\.0\.1:\d+$/m);
    expect(await show(WRITER, "ActiveState")).toBe("failed");
    expect(await show(SOCKET, "Result")).toBe("service-start-limit-hit");
    // Nothing was appended.
    expect((await fetchCheckpoint(directoryFetch(sys.path(LOG_DIR)), parseVerifierKey(vkey))).checkpoint.size).toBe(sizeBefore);

    await rm(sys.path(AF_UNIX_ONLY));
    await sys.systemctl("daemon-reload");
    expect(await show(WRITER, "RestrictAddressFamilies")).toBe("AF_INET AF_INET6 AF_UNIX");
    // What an operator does after a unit hit its start limit: clear the failed state, start the socket again.
    await sys.systemctl("reset-failed", WRITER, SOCKET);
    await sys.systemctl("start", SOCKET);
    await signAndProve("release-2.tar");
    await expectWriterRunningWithoutCredentials();
  }, 240_000);
});
