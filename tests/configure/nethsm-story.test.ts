/**
 * The whole Shamir story on the NetHSM stand-in, through real sshd and the compiled executables:
 * unprovisioned → signstar-configure (provision, backup passphrase, users, keys, certificates, backup) →
 * three shareholders download over SSH → the host holds no admin secret → two of three upload over SSH →
 * signstar-configure applies a changed config adding a signing user → that user signs over SSH → gpg verifies.
 */
import { lstat, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetHsmClient } from "../../lib/backends/nethsm/client.js";
import { validateBackup } from "../../lib/nethsm-backup/index.js";
import { parseAdminCredentials, type AdminCredentials } from "../../lib/secrets/admin-credentials.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";

const HOME_BASE = hostLayout().homeBase;
import { ShareStore } from "../../lib/secrets/share-store.js";
import { combineShares, parseShareLine, verifyShare } from "../../lib/secrets/shares/index.js";
import { confirmationCode } from "../../lib/secrets/share-claim.js";
import { netHsmNames, startSharesHost, type SharesHost } from "../support/shares-host.js";
import { gpgVerify, signOverSsh } from "./helpers.js";

let host: SharesHost;
let work: string;
const downloaded: string[] = [];
let creds: AdminCredentials;

beforeAll(async () => {
  host = await startSharesHost({ backend: "nethsm", signers: [{ name: "alice", kind: "ed25519" }, { name: "bob", kind: "p256" }] });
  work = await mkdtemp(join(tmpdir(), "signstar-nethsm-story-"));
  await host.writeConfig({ iteration: 1, signers: ["alice"] });
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function certificate(name: string): Promise<Uint8Array> {
  const s = host.signers.get(name)!;
  const n = netHsmNames(name);
  const passphrase = await readFile(secretFilePath({ systemUser: s.user, backendUser: n.user, handling: "plaintext" }), "utf8");
  const c = new NetHsmClient({ connections: [host.connection!], credentials: { user: n.user, passphrase } });
  try {
    const cert = await c.getKeyCertificate(n.key);
    if (cert === undefined) throw new Error(`no certificate for ${n.key}`);
    return cert;
  } finally {
    c.close();
  }
}

async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesBelow(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe("NetHSM: unprovisioned → configured → shares downloaded", () => {
  it("--dry-run plans provisioning and changes nothing", async () => {
    const r = await host.configure(["--dry-run"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^info: NetHSM state: Unprovisioned$/m);
    expect(r.stdout).toMatch(/^plan: NetHSM: provision/m);
    expect(host.standIn!.device.state).toBe("Unprovisioned");
  });

  it("configure provisions, creates users, key, certificate, and takes a backup", async () => {
    const r = await host.configure();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^done: NetHSM: provision/m);
    expect(r.stdout).toMatch(/^done: NetHSM: set the backup passphrase$/m);
    expect(r.stdout).toMatch(/^done: NetHSM: generate key alicekey \(Curve25519\) with tag alicetag$/m);
    expect(r.stdout).toMatch(/^done: NetHSM: add Operator user opalice; write it to the secret files of /m);
    expect(r.stdout).toMatch(/^done: NetHSM: add Backup user backup1; /m);
    expect(r.stdout).toMatch(/^done: NetHSM: create the OpenPGP certificate of key alicekey/m);
    expect(r.stdout).toMatch(/^info: NetHSM: backup written to .*\.bkp \(\d+ bytes\)$/m);
    expect(host.standIn!.device.state).toBe("Operational");
  });

  it("holders download their shares over SSH; the host holds no admin passphrase; the backup opens with the backup passphrase", async () => {
    for (const [i] of host.holders.entries()) {
      const r = await host.ssh(host.holders[i]!);
      expect(r.code).toBe(0);
      downloaded.push(r.stdout.trim());
      const ok = await host.ssh(host.holders[i]!, { command: ["confirm", confirmationCode(r.stdout.trim())] });
      expect([ok.code, ok.stdout]).toEqual([0, expect.stringMatching(/^share \d of set [0-9a-f]{16} confirmed: it was removed from this host/)]);
    }
    const set = await new ShareStore({ root: host.root }).loadShareSet();
    creds = parseAdminCredentials(Buffer.from(combineShares(downloaded.slice(0, 2).map((l) => verifyShare(l, set.record)), set.record)).toString("utf8"));
    const n = creds.nethsm!;
    const secrets = [n.unlockPassphrase, n.backupPassphrase, ...n.administrators.map((a) => a.passphrase), ...downloaded.map((l) => parseShareLine(l).data)];
    const homes = [...host.holders, ...host.signers.values()].map((u) => join(HOME_BASE, u.user));
    const files = [...(await filesBelow(host.root)), ...(await Promise.all(homes.map(filesBelow))).flat()];
    for (const f of files) {
      const text = (await readFile(f)).toString("latin1");
      for (const s of secrets) expect(text.includes(s), `${f} contains a secret`).toBe(false);
    }
    const backups = await filesBelow(join(host.root, "var/lib/signstar/backups"));
    expect(backups).toHaveLength(1);
    expect((await lstat(backups[0]!)).mode & 0o777).toBe(0o600);
    const v = await validateBackup(await readFile(backups[0]!), { passphrase: n.backupPassphrase, scrypt: host.standIn!.device.scrypt });
    expect(v.items).toContain("/authentication/opalice");
  });

  it("alice signs over SSH and gpg verifies", async () => {
    const s = await signOverSsh(host, "alice", work);
    expect(s.stderr).toBe("");
    expect(s.code).toBe(0);
    expect(await gpgVerify(await certificate("alice"), s.sig, s.data)).toBe(0);
  });

  it("two of three upload over SSH; configure applies iteration 2 adding bob; bob signs and gpg verifies", async () => {
    for (const i of [0, 2]) {
      const r = await host.ssh(host.holders[i]!, { command: ["upload"], input: downloaded[i]! });
      expect(r.code).toBe(0);
    }
    await host.writeConfig({ iteration: 2, signers: ["alice", "bob"] });
    const r = await host.configure();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^info: admin credentials: combined from 2 shares of set [0-9a-f]{16} \(0 not yet downloaded, 2 uploaded\)$/m);
    expect(r.stdout).toMatch(/^done: NetHSM: generate key bobkey \(EcP256\) with tag bobtag$/m);
    expect(r.stdout).toMatch(/^done: NetHSM: rotate the passphrase of Operator user opalice/m);
    expect(r.stdout).not.toMatch(/provision/);
    for (const name of ["bob", "alice"]) {
      const s = await signOverSsh(host, name, work);
      expect(s.stderr).toBe("");
      expect(s.code).toBe(0);
      expect(await gpgVerify(await certificate(name), s.sig, s.data)).toBe(0);
    }
    expect(await filesBelow(join(host.root, "var/lib/signstar/backups"))).toHaveLength(2);
  });
});
