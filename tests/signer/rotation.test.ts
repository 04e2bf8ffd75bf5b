/**
 * Secret rotation by signstar-configure while 16 clients sign through resident signers: a host provisioned only
 * by the production commands (signstar-configure on SoftHSM and on the NetHSM stand-in, admin secret kept
 * root-only), the forwarder as ForceCommand, signstar-signer running as the signing user. Each further configure
 * run rotates the user's secret (PKCS#11 user PIN / NetHSM operator passphrase, with the `.next` protocol); no
 * request may fail for it, and every signature verifies.
 */
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { secretFilePath } from "../../lib/secrets/non-admin-paths.js";
import { gpgVerify, certificateOf, signOverSsh } from "../configure/helpers.js";
import { removeSignerDirs, startResident, useForwarder, type Resident } from "../support/resident.js";
import { BACKEND_USER, netHsmNames, startSharesHost, type SharesHost } from "../support/shares-host.js";
import { NetHsmClient } from "../../lib/backends/nethsm/client.js";

/**
 * 16 clients on SoftHSM. The NetHSM stand-in runs inside this test process, together with the clients' hashing
 * and ssh children; with 16 clients on a loaded 2-core machine configure's own calls to it waited past their 30 s
 * deadline, so the stand-in gets 4.
 */
const CLIENTS = { pkcs11: 16, nethsm: 4 } as const;

for (const backend of ["pkcs11", "nethsm"] as const) {
  describe(`${backend}: rotation by signstar-configure while ${CLIENTS[backend]} clients sign`, () => {
    let host: SharesHost;
    let work: string;
    let resident: Resident | undefined;

    beforeAll(async () => {
      host = await startSharesHost({ backend, signers: [{ name: "alice", kind: "ed25519" }] });
      work = await mkdtemp(join(tmpdir(), "signstar-rotation-"));
      await host.writeConfig({ iteration: 1, signers: ["alice"], admin: "plaintext" });
      const r = await host.configure();
      if (r.code !== 0) throw new Error(`configure failed: ${r.stderr}`);
      await useForwarder({ binDir: host.binDir, env: host.env, signers: host.signers.values() });
      resident = await startResident(host, host.signers.get("alice")!.user, { SIGNSTAR_SIGNER_QUEUED: "64" });
    }, 180_000);

    afterAll(async () => {
      await resident?.stop();
      if (host) await removeSignerDirs(host, [...host.signers.values()].map((s) => s.user));
      await host?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    const secretOf = async (): Promise<string> => {
      const user = host.signers.get("alice")!.user;
      const backendUser = backend === "pkcs11" ? BACKEND_USER : netHsmNames("alice").user;
      return readFile(secretFilePath({ systemUser: user, backendUser, handling: "plaintext" }), "utf8");
    };

    const certificate = async (): Promise<Uint8Array> => {
      if (backend === "pkcs11") return certificateOf(host, "alice");
      const n = netHsmNames("alice");
      const c = new NetHsmClient({ connections: [host.connection!], credentials: { user: n.user, passphrase: await secretOf() } });
      try {
        return (await c.getKeyCertificate(n.key))!;
      } finally {
        c.close();
      }
    };

    it("no request fails while configure rotates the secret twice, and every signature verifies", async () => {
      const before = await secretOf();
      let stop = false;
      const outcomes: { code: number | null; stderr: string; data: string; sig: string }[] = [];
      const clients = Array.from({ length: CLIENTS[backend] }, async () => {
        while (!stop) outcomes.push(await signOverSsh(host, "alice", work));
      });
      try {
        for (let i = 0; i < 2; i++) {
          const r = await host.configure();
          expect(r.stderr).toBe("");
          expect(r.code).toBe(0);
          expect(r.stdout).toMatch(/rotate/);
        }
      } finally {
        // A few more rounds after the last rotation.
        await new Promise((resolve) => setTimeout(resolve, 2000));
        stop = true;
        await Promise.all(clients);
      }
      expect(await secretOf()).not.toBe(before);
      const failed = outcomes.filter((o) => o.code !== 0);
      expect(failed.map((o) => o.stderr)).toEqual([]);
      expect(outcomes.length).toBeGreaterThan(CLIENTS[backend]);
      const cert = await certificate();
      for (const o of outcomes.filter((_, i) => i % 10 === 0)) expect(await gpgVerify(cert, o.sig, o.data)).toBe(0);
      expect(resident!.child.exitCode).toBeNull();
    }, 600_000);
  });
}
