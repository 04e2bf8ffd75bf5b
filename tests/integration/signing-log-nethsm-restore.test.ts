/**
 * A replaced NetHSM, restored from the backup signstar-configure took, continues the same signing log (docs/tlog.md,
 * "Where the log key lives"). Production host (tests/support/production-host.ts) and the NetHSM stand-in, in the
 * operator's order:
 *
 * config with a `backup` and a `backup_upload` mapping → signstar-configure-build → signstar-configure (provisions
 * the device, makes the log key, writes log.vkey and an encrypted backup) → the writer as signstar-log → a client
 * signs (entry proven) → the NetHSM is replaced by a new, unprovisioned one at the same address with the same TLS
 * certificate → the backup_upload user uploads the backup over SSH (signstar-upload-backup, its ForceCommand) →
 * signstar-configure restores it with the admin credentials on the host and reconciles → the device holds the same log
 * key (same verifier key, log.vkey unchanged, no exit 4) → the restarted writer signs the next checkpoint; both
 * entries are proven included by our verifier and Go's, and the new checkpoint is consistent with the one before the
 * replacement.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetHsmClient } from "../../lib/backends/nethsm/index.js";
import { parseConfig } from "../../lib/config/load.js";
import { formatVerifierKey, parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch, fetchCheckpoint, verifyConsistency } from "../../lib/tlog/reader.js";
import { buildGoVerifier } from "../support/go-tlog-verifier.js";
import { printedVerifierKey, provenIncluded, signAndProve } from "../support/log-proof.js";
import { netHsmLogConfig } from "../support/nethsm-config.js";
import { startStandIn, type StandIn } from "../support/nethsm-standin/index.js";
import { sshBytes } from "../support/operator-host.js";
import { TOKEN_LOG_WRITER_COMMAND, startProductionHost, type ProductionHost, type ProductionSshd } from "../support/production-host.js";
import { generateSshKey, type SshKey } from "../support/sshd.js";

const SIGNER = "lognr-signer";
const SIGNER_OPERATOR = "lognrsigner";
const LOG_USER = "lognrwriter";
const LOG_KEY = "lognrkey";
const BACKUP = "lognr-backup";
const BACKUP_BACKEND = "lognrbackup";
const UPLOADER = "lognr-bupload";
const ORIGIN = "lognr.test/signstar-log";
const LOG_DIR = "/var/lib/signstar/log";
const BACKUPS = "/var/lib/signstar/backups";

let host: ProductionHost;
let standIn: StandIn;
let work: string;
let go: string;
let keys: Record<"signer" | "backup" | "uploader", SshKey>;

function config(): string {
  return netHsmLogConfig({
    url: standIn.url,
    fingerprint: standIn.tls.fingerprint,
    signingLog: { origin: ORIGIN, nethsmUser: LOG_USER, nethsmKey: LOG_KEY },
    signers: [{ user: SIGNER, publicKey: keys.signer.publicKey, operator: SIGNER_OPERATOR, userId: `${SIGNER} <${SIGNER}@lognr.test>` }],
    backup: { user: BACKUP, backendUser: BACKUP_BACKEND, publicKey: keys.backup.publicKey },
    backupUpload: { user: UPLOADER, publicKey: keys.uploader.publicKey },
  });
}

/** The client signs a fresh file as SIGNER; our verifier and Go's prove its entry included with `vkey`. */
const signed = (sshd: ProductionSshd, vkey: string, name: string): Promise<number> =>
  signAndProve({ sshd, user: SIGNER, identity: keys.signer.privateKeyFile, work, origin: ORIGIN, dir: host.path(LOG_DIR), vkey, go }, name);


beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "signstar-lognr-"));
  keys = {
    signer: await generateSshKey(work, SIGNER),
    backup: await generateSshKey(work, BACKUP),
    uploader: await generateSshKey(work, UPLOADER),
  };
  [host, go, standIn] = await Promise.all([startProductionHost(), buildGoVerifier(), startStandIn({ rateLimitMs: 1000 })]);
}, 300_000);

afterAll(async () => {
  await host?.stop();
  await standIn?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the signing log key on a NetHSM restored from backup", () => {
  it("a replaced NetHSM restored from the backup signstar-configure took continues the same signing log", async () => {
    await host.writeConfig(config());
    await host.operator("signstar-configure-build");
    const first = await host.operator("signstar-configure");
    expect(first).toContain(`NetHSM: generate the signing log key ${LOG_KEY} (Ed25519) with tag ${LOG_KEY}`);
    const vkey = printedVerifierKey(first)!;
    expect(parseVerifierKey(vkey).name).toBe(ORIGIN);
    const backups = (await readdir(host.path(BACKUPS))).filter((f) => /^nethsm-.*\.bkp$/.test(f));
    expect(backups).toHaveLength(1);
    const backup = await readFile(host.path(join(BACKUPS, backups[0]!)));

    await host.startLogWriter({ command: TOKEN_LOG_WRITER_COMMAND });
    const sshd = await host.startSshd();
    const firstIndex = await signed(sshd, vkey, "before");
    const { checkpoint: before } = await fetchCheckpoint(directoryFetch(host.path(LOG_DIR)), parseVerifierKey(vkey));

    // The NetHSM is replaced: the old one is gone (with it the log key), a new, unprovisioned one answers at the same
    // address with the same TLS certificate, so the configuration stays valid.
    await host.stopLogWriter();
    const { port, tls } = standIn;
    await standIn.close();
    standIn = await startStandIn({ port, tls, rateLimitMs: 1000 });
    expect(standIn.device.state).toBe("Unprovisioned");
    expect(standIn.url).toBe(parseConfig(config(), "test").nethsm!.connections[0]!.url.toString());

    // The backup_upload user uploads the backup over SSH (its ForceCommand is signstar-upload-backup).
    const up = await sshBytes({ sshd, user: { user: UPLOADER, role: "backup_upload", sshKey: keys.uploader }, input: backup });
    expect(up.stderr.toString()).toBe("");
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout.toString())).toMatchObject({ stored: "backup", bytes: backup.length });

    // configure restores it with the admin credentials on the host; the log key is the old one (no exit 4).
    const restored = await host.operator("signstar-configure");
    expect(restored).toMatch(new RegExp(`^done: NetHSM: restore the backup uploaded by ${UPLOADER} at \\S+ \\(sha256 [0-9a-f]{16}…, full restore\\)$`, "m"));
    expect(restored).not.toMatch(/NetHSM: provision|generate the signing log key/);
    expect(printedVerifierKey(restored)).toBe(vkey);
    expect(await readFile(host.path("/var/lib/signstar/log.vkey"), "utf8")).toBe(`${vkey}\n`);
    expect(standIn.device.state).toBe("Operational");
    const admin = new NetHsmClient({ connections: parseConfig(config(), "test").nethsm!.connections, credentials: { user: "admin", passphrase: await adminPassphrase() } });
    try {
      const details = await admin.getKey(LOG_KEY);
      expect(formatVerifierKey(ORIGIN, Buffer.from(details.public!.data!, "base64"))).toBe(vkey);
      expect(await admin.getUserTags(LOG_USER)).toEqual([LOG_KEY]);
    } finally {
      admin.close();
    }

    // The restarted writer signs the next checkpoint on the restored device: the same log, grown.
    await host.startLogWriter({ command: TOKEN_LOG_WRITER_COMMAND });
    const nextIndex = await signed(sshd, vkey, "after");
    expect(nextIndex).toBeGreaterThan(firstIndex);
    await provenIncluded({ dir: host.path(LOG_DIR), vkey, go, index: firstIndex, user: SIGNER });
    const fetch = directoryFetch(host.path(LOG_DIR));
    const { checkpoint: after } = await fetchCheckpoint(fetch, parseVerifierKey(vkey));
    expect(after.size).toBeGreaterThan(before.size);
    await verifyConsistency(fetch, before, after);
  }, 600_000);
});

/** The NetHSM admin passphrase configure generated (plaintext admin secret handling), for reading the device. */
async function adminPassphrase(): Promise<string> {
  const { parseAdminCredentials } = await import("../../lib/secrets/admin-credentials.js");
  const text = await readFile(host.path("/var/lib/signstar/creds/admin-credentials.toml"), "utf8");
  return parseAdminCredentials(text).nethsm!.administrators.find((a) => a.name === "admin")!.passphrase;
}
