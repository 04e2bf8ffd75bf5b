import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pkcs11MechanismError, openPkcs11Admin, openPkcs11SigningKey } from "../../../lib/backends/pkcs11/index.js";
import { ExitCode } from "../../../lib/errors.js";
import { type P11KitServer, P11_KIT_CLIENT_MODULE, startP11KitServer } from "../../support/p11kit.js";
import { type SoftHsm, createSoftHsm } from "../../support/softhsm.js";
import { REPO, nodeVerifies, opensslVerifies, rawSignature, setupFor, sha512 } from "./helpers.js";

const run = promisify(execFile);

describe("PKCS#11 through p11-kit-client.so", () => {
  let hsm: SoftHsm;
  let server: P11KitServer;

  beforeAll(async () => {
    hsm = await createSoftHsm();
    hsm.activate();
    // Keys are generated on the module directly (p11-kit 0.24 cannot forward EdDSA key generation either).
    const admin = await openPkcs11Admin({ module: hsm.module, token: { label: "signstar" }, userPin: hsm.token.userPin });
    try {
      await admin.generateKey("label:ed", setupFor("Curve25519"));
      await admin.generateKey("label:p256", setupFor("EcP256"));
      await admin.generateKey("label:p384", setupFor("EcP384"));
      await admin.generateKey("label:rsa", setupFor("Rsa", 2048));
    } finally {
      await admin.close();
    }
    server = await startP11KitServer({ provider: hsm.module, tokenUri: "pkcs11:token=signstar", env: hsm.env });
    process.env["P11_KIT_SERVER_ADDRESS"] = server.address;
  });
  afterAll(async () => {
    delete process.env["P11_KIT_SERVER_ADDRESS"];
    await server?.stop();
    await hsm?.cleanup();
  });

  for (const label of ["p256", "p384", "rsa"]) {
    it(`${label}: signs through the p11-kit server, verified by node:crypto and openssl`, async () => {
      const key = await openPkcs11SigningKey({ module: P11_KIT_CLIENT_MODULE, token: { label: "signstar" }, key: { label }, pin: hsm.token.userPin });
      try {
        const message = Buffer.from(`through p11-kit ${label}`);
        const digest = sha512(message);
        const mpis = await key.signDigest(digest);
        expect(nodeVerifies(key.publicKey, message, mpis)).toBe(true);
        expect(await opensslVerifies(key.publicKey, digest, rawSignature(key.publicKey, mpis))).toBe(true);
      } finally {
        await key.close();
      }
    });
  }

  it("the same key reads the same public key directly and through p11-kit", async () => {
    const viaKit = await openPkcs11SigningKey({ module: P11_KIT_CLIENT_MODULE, token: { label: "signstar" }, key: { label: "rsa" }, pin: hsm.token.userPin });
    const direct = await openPkcs11SigningKey({ module: hsm.module, token: { label: "signstar" }, key: { label: "rsa" }, pin: hsm.token.userPin });
    try {
      expect(viaKit.publicKey).toEqual(direct.publicKey);
    } finally {
      await viaKit.close();
      await direct.close();
    }
  });

  it("EdDSA gives one clear line: p11-kit 0.24 does not forward it", async () => {
    const key = await openPkcs11SigningKey({ module: P11_KIT_CLIENT_MODULE, token: { label: "signstar" }, key: { label: "ed" }, pin: hsm.token.userPin });
    try {
      expect(key.publicKey.kind).toBe("ed25519");
      const err = await key.signDigest(sha512("x")).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Pkcs11MechanismError);
      expect((err as Pkcs11MechanismError).exitCode).toBe(ExitCode.Backend);
      expect((err as Error).message).toBe(
        `CKM_EDDSA is not available through p11-kit-client (CKR_MECHANISM_INVALID, module ${P11_KIT_CLIENT_MODULE}, token label "signstar", key label:ed): p11-kit 0.24 does not forward EdDSA; use the module directly or an RSA/ECDSA key`,
      );
    } finally {
      await key.close();
    }
  });

  it("the shipped systemd units pass systemd-analyze verify and their ExecStart serves ECDSA (inetd mode)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "signstar-units-"));
    let inetd: P11KitServer | undefined;
    try {
      const socketUnit = await readFile(join(REPO, "systemd/p11-kit-signstar.socket"), "utf8");
      const serviceUnit = await readFile(join(REPO, "systemd/p11-kit-signstar@.service"), "utf8");
      expect(socketUnit).toMatch(/^Accept=yes$/m);
      expect(socketUnit).toMatch(/^SocketMode=0660$/m);
      expect(socketUnit).toMatch(/^SocketGroup=signstar-pkcs11$/m);
      expect(serviceUnit).toMatch(/^StandardInput=socket$/m);
      const exec = /^ExecStart=(.*)$/m.exec(serviceUnit)?.[1];
      expect(exec).toBe("/usr/bin/p11-kit remote --provider ${SIGNSTAR_PKCS11_MODULE} ${SIGNSTAR_PKCS11_TOKEN_URI}");
      // Verify copies whose host paths exist here.
      const envFile = join(dir, "p11-kit-signstar.env");
      await writeFile(envFile, `SIGNSTAR_PKCS11_MODULE=${hsm.module}\nSIGNSTAR_PKCS11_TOKEN_URI=pkcs11:token=signstar\nSOFTHSM2_CONF=${hsm.confPath}\n`);
      await writeFile(
        join(dir, "p11-kit-signstar.socket"),
        socketUnit.replace("/run/signstar/p11-kit/pkcs11", join(dir, "pkcs11")).replace("SocketGroup=signstar-pkcs11", "SocketGroup=root"),
      );
      await writeFile(join(dir, "p11-kit-signstar@.service"), serviceUnit.replace("/etc/signstar/p11-kit-signstar.env", envFile));
      await copyFile(join(dir, "p11-kit-signstar@.service"), join(dir, "p11-kit-signstar@0.service"));
      for (const unit of ["p11-kit-signstar.socket", "p11-kit-signstar@0.service"]) {
        // Warnings and errors only: at the default level systemd-analyze also logs notices (e.g. about the
        // machine it runs on) that say nothing about the unit.
        const r = await run("systemd-analyze", ["verify", "--man=no", join(dir, unit)], { cwd: dir, env: { ...process.env, SYSTEMD_LOG_LEVEL: "warning" } });
        expect(`${r.stdout}${r.stderr}`.trim()).toBe("");
      }
      // Run the unit's command the way systemd would (one `p11-kit remote` per connection on stdin/stdout).
      inetd = await startP11KitServer({ provider: hsm.module, tokenUri: "pkcs11:token=signstar", env: hsm.env, mode: "inetd" });
      process.env["P11_KIT_SERVER_ADDRESS"] = inetd.address;
      const key = await openPkcs11SigningKey({ module: P11_KIT_CLIENT_MODULE, token: { label: "signstar" }, key: { label: "p256" }, pin: hsm.token.userPin });
      try {
        const message = Buffer.from("inetd");
        expect(nodeVerifies(key.publicKey, message, await key.signDigest(sha512(message)))).toBe(true);
      } finally {
        await key.close();
      }
    } finally {
      process.env["P11_KIT_SERVER_ADDRESS"] = server.address;
      await inetd?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
