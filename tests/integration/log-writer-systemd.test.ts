/**
 * The signing log's writer under a booted systemd (tests/support/booted-systemd.ts), with the shipped units:
 *
 * Signstar installed as on a production host (executables linked into /usr/bin, the units of systemd/ in
 * /usr/lib/systemd/system) → config with signing_log → signstar-configure-build → signstar-configure (the log key)
 * → systemctl daemon-reload, systemctl start signstar-log-writer.socket (the service not yet running) →
 * systemctl reload ssh → a client signs over the container's sshd: its ForceCommand connecting to the socket starts
 * signstar-log-writer.service, which runs as signstar-log, gets log.key only as its LoadCredential, and signs the
 * checkpoint with it (verified with log.vkey by our verifier and Go's). Then the log key on a token (key file and log
 * moved away, signing_log.pkcs11_token): configure-build's drop-in clears LoadCredential, so the unit starts without
 * a key file and signs the new log's checkpoint on the token.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch, fetchCheckpoint } from "../../lib/tlog/reader.js";
import { installSignstar, operatorIn, sendInside, unitProperty } from "../support/booted-signstar.js";
import { bootSystemd, type BootedSystemd } from "../support/booted-systemd.js";
import { buildGoVerifier } from "../support/go-tlog-verifier.js";
import { logIndexOf, printedVerifierKey, provenIncluded } from "../support/log-proof.js";
import { softHsmConfig } from "../support/softhsm-config.js";
import { generateSshKey, type SshKey } from "../support/sshd.js";

const SIGNER = "lwsd-signer";
const ORIGIN = "lwsd.test/signstar-log";
const LOG_DIR = "/var/lib/signstar/log";
/** The test's files inside the container (its /tmp is a tmpfs of the container's own). */
const WORK = "/var/tmp/signstar-lwsd";

let sys: BootedSystemd;
let go: string;
let key: SshKey;

const operator = (argv: string[]): Promise<string> => operatorIn(sys, argv);
const show = (unit: string, property: string): Promise<string> => unitProperty(sys, unit, property);

/** /etc/signstar/config.toml: one signing user on token "lwsd"; the log key in a file, or on the token `logToken`. */
async function writeConfig(logToken?: string): Promise<void> {
  await mkdir(sys.path("/etc/signstar"), { recursive: true, mode: 0o755 });
  const config = softHsmConfig({
    signingLog: logToken === undefined ? { origin: ORIGIN } : { origin: ORIGIN, pkcs11Token: logToken },
    tokens: logToken === undefined ? ["lwsd"] : ["lwsd", logToken],
    signers: [{ user: SIGNER, publicKey: key.publicKey, token: "lwsd", key: SIGNER, userId: `${SIGNER} <${SIGNER}@lwsd.test>` }],
  });
  await writeFile(sys.path("/etc/signstar/config.toml"), config, { mode: 0o644 });
}

/** The installed client signs WORK/<name> over the booted system's sshd (port 22 of its own network); the log index its signature names. */
async function sign(name: string): Promise<number> {
  const sent = await sendInside(sys, { work: WORK, user: SIGNER, name });
  expect(sent.stderr).toBe("");
  expect(sent.code).toBe(0);
  return logIndexOf(sys.path(`${WORK}/${name}.sig`), ORIGIN);
}

beforeAll(async () => {
  [sys, go] = await Promise.all([bootSystemd(), buildGoVerifier()]);
  await installSignstar(sys);
  await mkdir(sys.path(WORK), { mode: 0o700 });
  key = await generateSshKey(sys.path(WORK), SIGNER);
}, 300_000);

afterAll(async () => {
  await sys?.stop();
});

describe("the log writer under a booted systemd", () => {
  it("boots to multi-user.target; systemctl talks to its systemd", async () => {
    expect(await show("multi-user.target", "ActiveState")).toBe("active");
    expect((await readFile(`/proc/${sys.leader}/comm`, "utf8")).trim()).toBe("systemd");
  });

  it("configure-build, configure, then the socket; the first signature starts the writer as signstar-log with the key as its credential", async () => {
    await writeConfig();
    await operator(["signstar-configure-build"]);
    const configured = await operator(["signstar-configure"]);
    const vkey = printedVerifierKey(configured);
    expect(vkey).toBeDefined();
    expect(await readFile(sys.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${vkey!}\n`);

    await sys.systemctl("daemon-reload");
    // configure-build enabled the socket the way systemctl enable does.
    expect((await sys.systemctl("is-enabled", "signstar-log-writer.socket")).trim()).toBe("enabled");
    await sys.systemctl("start", "signstar-log-writer.socket");
    expect(await show("signstar-log-writer.socket", "ActiveState")).toBe("active");
    expect(await show("signstar-log-writer.service", "ActiveState")).toBe("inactive");
    // Signstar's sshd drop-ins (ForceCommand …) are read on reload, as configure-build's note says.
    await sys.systemctl("reload", "ssh");

    const index = await sign("release.tar");

    // Socket activation started the service, with the unit's user and credential.
    expect(await show("signstar-log-writer.service", "ActiveState")).toBe("active");
    expect(await show("signstar-log-writer.service", "NRestarts")).toBe("0");
    const mainPid = await show("signstar-log-writer.service", "MainPID");
    expect(Number(mainPid)).toBeGreaterThan(0);
    expect((await operator(["ps", "-o", "user=", "-p", mainPid])).trim()).toBe("signstar-log");
    const credentials = await operator(["ls", "/run/credentials/signstar-log-writer.service"]);
    expect(credentials.trim()).toBe("signstar-log-key");

    // The checkpoint is signed with the key whose verifier key configure wrote: the credential arrived.
    const verifier = parseVerifierKey((await readFile(sys.path("/var/lib/signstar/log.vkey"), "utf8")).trim());
    const { checkpoint } = await fetchCheckpoint(directoryFetch(sys.path(LOG_DIR)), verifier);
    expect(checkpoint.origin).toBe(ORIGIN);
    expect(index).toBeLessThan(checkpoint.size);
    await provenIncluded({ dir: sys.path(LOG_DIR), vkey: vkey!, go, index, user: SIGNER });
  }, 240_000);

  it("the log key on a token: configure-build's drop-in clears LoadCredential, so the unit starts without a key file and signs on the token", async () => {
    // A new log (docs/tlog.md: a log key is never replaced; move the key and the log away to start a new one).
    await sys.systemctl("stop", "signstar-log-writer.socket", "signstar-log-writer.service");
    await operator(["mkdir", `${WORK}/old-log`]);
    await operator(["mv", LOG_DIR, "/var/lib/signstar/log.key", "/var/lib/signstar/log.vkey", `${WORK}/old-log/`]);
    await writeConfig("lwsd-log");
    await operator(["signstar-configure-build"]);
    expect(await readFile(sys.path("/etc/systemd/system/signstar-log-writer.service.d/10-signstar-log-key.conf"), "utf8")).toMatch(/^LoadCredential=$/m);
    const configured = await operator(["signstar-configure"]);
    const vkey = printedVerifierKey(configured);
    expect(vkey).toBeDefined();
    await expect(readFile(sys.path("/var/lib/signstar/log.key"))).rejects.toThrow(/ENOENT/);

    await sys.systemctl("daemon-reload");
    await sys.systemctl("start", "signstar-log-writer.socket");
    expect(await show("signstar-log-writer.service", "ActiveState")).toBe("inactive");
    const index = await sign("release-2.tar");

    expect(await show("signstar-log-writer.service", "ActiveState")).toBe("active");
    expect(await show("signstar-log-writer.service", "NRestarts")).toBe("0");
    const mainPid = await show("signstar-log-writer.service", "MainPID");
    expect((await operator(["ps", "-o", "user=", "-p", mainPid])).trim()).toBe("signstar-log");
    expect((await sys.run(["ls", "/run/credentials/signstar-log-writer.service"])).code).not.toBe(0);
    // The checkpoint is signed on the token, with the key whose verifier key configure printed.
    const { checkpoint } = await fetchCheckpoint(directoryFetch(sys.path(LOG_DIR)), parseVerifierKey(vkey!));
    expect(checkpoint.size).toBe(1);
    await provenIncluded({ dir: sys.path(LOG_DIR), vkey: vkey!, go, index, user: SIGNER });
  }, 240_000);
});
