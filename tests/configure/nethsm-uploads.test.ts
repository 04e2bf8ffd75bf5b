/**
 * Issue 17.4: signstar-configure applies what the upload users uploaded, on the NetHSM stand-in, through the
 * production commands: the backup configure took is uploaded with signstar-upload-backup (as the backup_upload
 * user), the device is replaced by an unprovisioned one, and configure restores it with the admin secret,
 * unlocks and reconciles (the key is the old one: the old certificate verifies new signatures); an update image
 * uploaded with signstar-upload-update is uploaded and committed (a run killed between the two converges);
 * applied uploads are removed only after a successful run.
 */
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetHsmClient } from "../../lib/backends/nethsm/client.js";
import { CRASH_ENV } from "../../lib/configure/crash.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";
import { uploadPath } from "../../lib/spool/uploads.js";
import { makeUpdateImage } from "../support/nethsm-standin/index.js";
import { runBytes } from "../support/operator-host.js";
import { REPO_ROOT } from "../support/signing-host.js";
import { netHsmNames, startSharesHost, type SharesHost } from "../support/shares-host.js";
import { gpgVerify, signOverSsh } from "./helpers.js";

let host: SharesHost;
let work: string;

beforeAll(async () => {
  host = await startSharesHost({ backend: "nethsm", signers: [{ name: "alice", kind: "ed25519" }] });
  work = await mkdtemp(join(tmpdir(), "signstar-nethsm-uploads-"));
  await host.writeConfig({ iteration: 1, signers: ["alice"], admin: "plaintext" });
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** An upload tool run as its user (what the ForceCommand runs), the bytes on stdin. */
async function upload(tool: "signstar-upload-backup" | "signstar-upload-update", user: string, bytes: Uint8Array) {
  return runBytes(
    "setpriv",
    [`--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", process.execPath, join(REPO_ROOT, "dist", "bin", `${tool}.js`)],
    { input: bytes, env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", SIGNSTAR_CONFIG: host.configFile, SIGNSTAR_LOG_SOCKET: host.syslog.socket } },
  );
}

async function certificate(): Promise<Uint8Array> {
  const s = host.signers.get("alice")!;
  const n = netHsmNames("alice");
  const passphrase = await readFile(secretFilePath({ systemUser: s.user, backendUser: n.user, handling: "plaintext" }), "utf8");
  const c = new NetHsmClient({ connections: [host.connection!], credentials: { user: n.user, passphrase } });
  try {
    return (await c.getKeyCertificate(n.key))!;
  } finally {
    c.close();
  }
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

describe("17.4: uploaded backups and updates are applied by signstar-configure", () => {
  let oldCert: Uint8Array;

  it("configure provisions and takes a backup; the backup_upload user uploads it", async () => {
    const r = await host.configure();
    expect([r.code, r.stderr]).toEqual([0, ""]);
    oldCert = await certificate();
    const dir = hostLayout(host.root).backupsDir;
    const [name] = (await readdir(dir)).sort().reverse();
    const up = await upload("signstar-upload-backup", host.uploaders!.backup, await readFile(join(dir, name!)));
    expect(up.stderr.toString()).toBe("");
    expect(up.code).toBe(0);
    expect(await exists(uploadPath("backup", host.uploaders!.backup))).toBe(true);
  });

  it("an unreachable NetHSM stops the run before any secret changes (issue 12.12)", async () => {
    const text = await readFile(host.configFile, "utf8");
    const s = host.signers.get("alice")!;
    const pinFile = secretFilePath({ systemUser: s.user, backendUser: netHsmNames("alice").user, handling: "plaintext" });
    const before = await readFile(pinFile, "utf8");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(host.configFile, text.replace(/https:\/\/127\.0\.0\.1:\d+/, "https://127.0.0.1:1"));
    try {
      const r = await host.configure();
      expect(r.code).toBe(7);
      expect(r.stdout).not.toMatch(/^done:/m);
      expect(r.stderr).toMatch(/^signstar-configure: NetHSM https:\/\/127\.0\.0\.1:1\/\S*: connection failed: .*ECONNREFUSED/);
      expect(await readFile(pinFile, "utf8")).toBe(before);
    } finally {
      await writeFile(host.configFile, text);
    }
  });

  it("a replaced (unprovisioned) device: --dry-run plans the restore and changes nothing", async () => {
    host.standIn!.device.factoryReset();
    const r = await host.configure(["--dry-run"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^plan: NetHSM: restore the backup uploaded by ${host.uploaders!.backup} at \\S+ \\(sha256 [0-9a-f]{16}…, full restore\\)$`, "m"));
    expect(host.standIn!.device.state).toBe("Unprovisioned");
    expect(await exists(uploadPath("backup", host.uploaders!.backup))).toBe(true);
  });

  it("without the admin secret the uploaded backup is not touched (no new secret is generated for it)", async () => {
    const creds = join(host.root, "var/lib/signstar/creds/admin-credentials.toml");
    const saved = await readFile(creds);
    await rm(creds);
    try {
      const r = await host.configure();
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/the NetHSM backup uploaded by \S+ is set up already, but no admin secret is stored on this host/);
      expect(host.standIn!.device.state).toBe("Unprovisioned");
      expect(await exists(creds)).toBe(false);
    } finally {
      const { writeFile } = await import("node:fs/promises");
      await writeFile(creds, saved, { mode: 0o600 });
    }
  });

  it("killed right after the restore, configure converges: restored key signs, the old certificate verifies, the upload is gone", async () => {
    const crashed = await host.configure([], { [CRASH_ENV]: "apply:after-restore" });
    expect(crashed.signal).toBe("SIGKILL");
    expect(await exists(uploadPath("backup", host.uploaders!.backup))).toBe(true);
    const r = await host.configure();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^done: NetHSM: unlock/m);
    expect(r.stdout).not.toMatch(/NetHSM: provision|generate key/);
    expect(host.standIn!.device.state).toBe("Operational");
    expect(await exists(uploadPath("backup", host.uploaders!.backup))).toBe(false);
    const s = await signOverSsh(host, "alice", work);
    expect([s.code, s.stderr]).toEqual([0, ""]);
    expect(await gpgVerify(oldCert, s.sig, s.data)).toBe(0);
  });

  it("an uploaded update is uploaded and committed; a run killed in between converges; the upload is removed", async () => {
    const image = makeUpdateImage(host.uploaders!.updateKey, "Signstar test release", "4.1", Buffer.alloc(512 * 2, 7));
    const up = await upload("signstar-upload-update", host.uploaders!.update, image);
    expect([up.code, up.stderr.toString()]).toEqual([0, ""]);
    const crashed = await host.configure([], { [CRASH_ENV]: "apply:after-update-upload" });
    expect(crashed.signal).toBe("SIGKILL");
    expect(host.standIn!.device.softwareVersion).toBe("4.0");
    const r = await host.configure();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^done: NetHSM: apply the update 4\\.1 uploaded by ${host.uploaders!.update} \\(upload, commit; cancel on failure\\)$`, "m"));
    expect(host.standIn!.device.softwareVersion).toBe("4.1");
    expect(await exists(uploadPath("update", host.uploaders!.update))).toBe(false);
    const again = await host.configure();
    expect(again.stdout).not.toMatch(/apply the update/);
  });
});
