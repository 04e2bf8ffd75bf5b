/**
 * Regression tests for the order of a signstar-configure run (issues 17.1, 12.2, 12.3, 12.11), on SoftHSM with
 * the compiled executable: the admin secret is proven against the token before it is stored in any new form,
 * a mode switch imports it, a lost secret is never replaced by a new one for an initialized token, a missing
 * Unix user stops the run before shares or PINs are touched, and a dry run sees the uploads without changing them.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseAdminCredentials, serializeAdminCredentials } from "../../lib/secrets/admin-credentials.js";
import { unsealShare } from "../../lib/secrets/share-seal.js";
import { ShareStore } from "../../lib/secrets/share-store.js";
import { combineShares, verifyShare } from "../../lib/secrets/shares/index.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { confirmationCode } from "../../lib/secrets/share-claim.js";
import { startSharesHost, type SharesHost } from "../support/shares-host.js";
import { pinOf, signOverSsh } from "./helpers.js";
import { runSignalled } from "../support/run.js";
import { readShareStatus, SHARE_CONFIRM_DEADLINE_MS } from "../../lib/spool/shares.js";
import { wipeExpiredShares } from "../../lib/configure/run.js";
import { REPO_ROOT } from "../support/signing-host.js";

/** signstar-configure with only the given arguments (no --config, no SIGNSTAR_CONFIG). */
function bare(args: readonly string[]) {
  return runSignalled(process.execPath, [join(REPO_ROOT, "dist", "bin", "signstar-configure.js"), ...args], {
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", SOFTHSM2_CONF: host.softhsm.confPath },
  });
}

let host: SharesHost;
let work: string;

beforeAll(async () => {
  host = await startSharesHost({ signers: [{ name: "alice", kind: "ed25519" }, { name: "bob", kind: "p256" }] });
  work = await mkdtemp(join(tmpdir(), "signstar-order-"));
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  await host.reset();
});

const credsFile = (): string => join(host.root, "var/lib/signstar/creds/admin-credentials.toml");

async function soPinFromFile(): Promise<string> {
  return parseAdminCredentials(await readFile(credsFile(), "utf8")).pkcs11Tokens![0]!.soPin;
}

/** Combines the shares staged in the holders' spools (root reads them) into the admin credentials. */
async function credsFromSpools(): Promise<string> {
  const set = await new ShareStore({ root: host.root }).loadShareSet();
  const shares = [];
  for (const h of set.holders) {
    const file = join(hostLayout(host.root).userState(h.user, "shares"), `${set.record.setId}.share`);
    // Sealed at rest (issue 17.6): root opens it with the holder's key from /run.
    shares.push(verifyShare(await unsealShare(host.root, { setId: set.record.setId, user: h.user }, await readFile(file, "utf8")), set.record));
  }
  return Buffer.from(combineShares(shares, set.record)).toString("utf8");
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String).sort();
}

describe("17.1: the admin secret is proven and never replaced behind the operator's back", () => {
  it("plaintext → Shamir imports the existing secret (the token's SO PIN stays what it was) and wipes the file only after", async () => {
    await host.writeConfig({ iteration: 1, signers: ["alice"], admin: "plaintext" });
    const first = await host.configure();
    expect([first.code, first.stderr]).toEqual([0, ""]);
    const soPin = await soPinFromFile();
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    const r = await host.configure();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^info: admin credentials: read from .*admin-credentials\.toml \(admin_secret_handling is now shamirs-secret-sharing/m);
    expect(r.stdout).toMatch(/^info: admin credentials from .* proven against pkcs11 token label "signstar"$/m);
    expect(r.stdout).toMatch(/^done: store the admin credentials \(now shamirs-secret-sharing; were plaintext\), split them into 3 shares/m);
    expect(r.stdout).not.toMatch(/generate admin credentials/);
    expect(parseAdminCredentials(await credsFromSpools()).pkcs11Tokens![0]!.soPin).toBe(soPin);
    await expect(stat(credsFile())).rejects.toThrow(/ENOENT/);
    // The imported secret still works: a run that needs the SO PIN (user PIN files lost) resets the user PIN.
    await rm(join(hostLayout().homeBase, host.signers.get("alice")!.user, ".local/state/signstar/secrets"), { recursive: true, force: true });
    const again = await host.configure();
    expect([again.code, again.stderr]).toEqual([0, ""]);
    expect(again.stdout).toMatch(/^done: pkcs11 token label "signstar": reset the user PIN as security officer/m);
    expect((await signOverSsh(host, "alice", work)).code).toBe(0);
  });

  it("Shamir → plaintext imports the secret from the shares on the host", async () => {
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    expect((await host.configure()).code).toBe(0);
    const before = await credsFromSpools();
    await host.writeConfig({ iteration: 1, signers: ["alice"], admin: "plaintext" });
    const r = await host.configure();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^done: store the admin credentials \(now plaintext; were shamirs-secret-sharing\)$/m);
    expect(serializeAdminCredentials(parseAdminCredentials(await readFile(credsFile(), "utf8")))).toBe(before);
    expect(r.stdout).toMatch(/^info: retired share set [0-9a-f]{16}/m);
    expect(await listing(hostLayout(host.root).shareStoreDir)).toEqual([]);
  });

  it("a lost credentials file with an initialized token: refused with how to recover, nothing changed", async () => {
    await host.writeConfig({ iteration: 1, signers: ["alice"], admin: "plaintext" });
    expect((await host.configure()).code).toBe(0);
    const pin = await pinOf(host, "alice");
    await rm(credsFile());
    const tokenFiles = await listing(host.softhsm.tokenDir);
    const r = await host.configure();
    expect(r.code).toBe(6);
    expect(r.stdout).not.toMatch(/^done:/m);
    expect(r.stderr).toMatch(
      /^signstar-configure: pkcs11 token label "signstar" is set up already, but no admin secret is stored on this host \(.*\); signstar-configure never generates a new admin secret for a set-up backend: restore the admin credentials from your backup/,
    );
    expect(r.stderr.split("\n")).toHaveLength(2);
    await expect(stat(credsFile())).rejects.toThrow(/ENOENT/);
    expect(await pinOf(host, "alice")).toBe(pin);
    expect(await listing(host.softhsm.tokenDir)).toEqual(tokenFiles);
    // A dry run says the same.
    const dry = await host.configure(["--dry-run"]);
    expect(dry.code).toBe(6);
  });

  it("credentials the token does not accept are refused before they are split or stored", async () => {
    await host.writeConfig({ iteration: 1, signers: ["alice"], admin: "plaintext" });
    expect((await host.configure()).code).toBe(0);
    const text = await readFile(credsFile(), "utf8");
    const soPin = await soPinFromFile();
    const wrong = text.replace(soPin, `${soPin.slice(0, -1)}${soPin.endsWith("A") ? "B" : "A"}`);
    await writeFile(credsFile(), wrong, { mode: 0o600 });
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    const r = await host.configure();
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^signstar-configure: the admin credentials from .*admin-credentials\.toml do not match pkcs11 token label "signstar" \(wrong PIN \(CKR_PIN_INCORRECT/);
    expect(r.stdout).not.toMatch(/^done:/m);
    expect(await readFile(credsFile(), "utf8")).toBe(wrong);
    expect(await listing(hostLayout(host.root).shareStoreDir)).toEqual([]);
  });

  it("Shamir → plaintext without enough shares on the host is refused and keeps the share set", async () => {
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    expect((await host.configure()).code).toBe(0);
    for (const h of host.holders) {
      const r = await host.ssh(h);
      await host.ssh(h, { command: ["confirm", confirmationCode(r.stdout.trim())] });
    }
    const store = await listing(hostLayout(host.root).shareStoreDir);
    await host.writeConfig({ iteration: 1, signers: ["alice"], admin: "plaintext" });
    const r = await host.configure();
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^signstar-configure: storing the admin secret as admin_secret_handling now says \(plaintext; it is stored as shamirs-secret-sharing\) needs the admin credentials, but only 0 of the 2 required shares/);
    expect(await listing(hostLayout(host.root).shareStoreDir)).toEqual(store);
    await expect(stat(credsFile())).rejects.toThrow(/ENOENT/);
  });
});

describe("12.2 / 12.3: preconditions before shares; a dry run sees the uploads", () => {
  it("uploaded shares and a signing user not created yet: exit 4 naming configure-build; shares, uploads and PINs untouched", async () => {
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    expect((await host.configure()).code).toBe(0);
    const lines: string[] = [];
    for (const h of host.holders) {
      const r = await host.ssh(h);
      lines.push(r.stdout.trim());
      await host.ssh(h, { command: ["confirm", confirmationCode(r.stdout.trim())] });
    }
    for (const i of [0, 1]) expect((await host.ssh(host.holders[i]!, { command: ["upload"], input: lines[i]! })).code).toBe(0);
    const pin = await pinOf(host, "alice");
    const uploads = hostLayout(host.root).shareUploadsDir;
    const before = { store: await listing(hostLayout(host.root).shareStoreDir), uploads: await listing(uploads), record: await readFile(hostLayout(host.root).shareRecord, "utf8") };

    // 12.3: the dry run combines the uploads as the real run would, and wipes nothing.
    await host.writeConfig({ iteration: 2, signers: ["alice"] });
    const dry = await host.configure(["--dry-run"]);
    expect(dry.stderr).toBe("");
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^info: admin credentials: combined from 2 shares of set [0-9a-f]{16} \(0 not yet downloaded, 2 uploaded\)$/m);
    expect(dry.stdout).toMatch(/^plan: update admin credentials, split them into 3 shares/m);
    expect(await listing(uploads)).toEqual(before.uploads);

    // 12.2: a user the config names but configure-build has not created yet.
    const text = await readFile(host.configFile, "utf8");
    await writeFile(host.configFile, text.replace(/system_user = "([a-z0-9]+-alice)"/, 'system_user = "sstnobody-x"'));
    const r = await host.configure();
    expect(r.stdout).not.toMatch(/^done:/m);
    expect(r.stderr).toBe(
      'signstar-configure: the Unix user "sstnobody-x" named in the config does not exist: run signstar-configure-build first (and reload sshd), then signstar-configure again; nothing was changed\n',
    );
    expect(r.code).toBe(4);
    expect(await listing(uploads)).toEqual(before.uploads);
    expect(await listing(hostLayout(host.root).shareStoreDir)).toEqual(before.store);
    expect(await readFile(hostLayout(host.root).shareRecord, "utf8")).toBe(before.record);
    expect(await pinOf(host, "alice")).toBe(pin);
  });
});

describe("17.6: unconfirmed shareholders are shown, published for the metrics, and warned about after the deadline", () => {
  it("configure lists the holders whose shares are still on the host; the timer warns once the deadline passed", async () => {
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    const r = await host.configure();
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const [h1, h2, h3] = host.holders.map((h) => h.user);
    expect(r.stdout).toMatch(
      new RegExp(`^info: unconfirmed shareholders \\(their shares are on this host until they confirm; deadline \\S+\\): ${h1} \\(not downloaded\\), ${h2} \\(not downloaded\\), ${h3} \\(not downloaded\\)$`, "m"),
    );
    const d = await host.ssh(host.holders[0]!);
    await host.ssh(host.holders[0]!, { command: ["confirm", confirmationCode(d.stdout.trim())] });
    await host.ssh(host.holders[1]!); // downloaded, not confirmed
    const status = await readShareStatus(host.root);
    expect(status?.holders.map((h) => h.state)).toEqual(["pending", "pending", "pending"]); // as of the last run
    const warnings: string[] = [];
    const late = new Date(Date.parse(status!.createdAt) + SHARE_CONFIRM_DEADLINE_MS + 60_000);
    await wipeExpiredShares({ root: host.root, now: () => late, out: () => undefined, warn: (l) => warnings.push(l) });
    expect(warnings).toEqual([
      `WARNING: share set ${status!.setId} was staged at ${status!.createdAt} and 2 share(s) are still on this host after the deadline ${status!.deadline}: ${h2} (downloaded, not confirmed), ${h3} (not downloaded); a copy of this disk holds them: ask the holders to download and confirm their shares`,
    ]);
    expect((await readShareStatus(host.root))?.holders.map((h) => h.state)).toEqual(["fetched", "claimed", "pending"]);
    const st = await stat(hostLayout(host.root).shareStatus);
    expect([st.mode & 0o777, st.uid]).toEqual([0o644, 0]);
    // Before the deadline: no warning.
    await wipeExpiredShares({ root: host.root, now: () => new Date(Date.parse(status!.createdAt) + 60_000), out: () => undefined, warn: (l) => warnings.push(l) });
    expect(warnings).toHaveLength(1);
  });
});

describe("12.11: --root confines the configuration search", () => {
  it("a nonexistent root reads no host configuration: it searches below the root only", async () => {
    const dir = join(work, "nonexistent");
    const r = await bare(["--root", dir]);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(new RegExp(`^signstar-configure: no configuration file found \\(searched ${dir}/etc/signstar/config\\.toml, ${dir}/run/signstar/config\\.toml`));
  });

  it("the configuration below the root is the one used", async () => {
    await host.writeConfig({ iteration: 1, signers: ["alice"] });
    const dir = join(work, "image");
    await mkdir(join(dir, "etc/signstar"), { recursive: true });
    await writeFile(join(dir, "etc/signstar/config.toml"), await readFile(host.configFile, "utf8"));
    const r = await bare(["--dry-run", "--root", dir]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(new RegExp(`^info: config ${dir}/etc/signstar/config\\.toml, iteration 1`, "m"));
  });
});
