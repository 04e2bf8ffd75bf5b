/**
 * The signing key of a resident signer, held open across requests (one PKCS#11 session and login, or one NetHSM
 * client with its keep-alive connection) and opened the one way every tool logs in (lib/backends/login.ts
 * `openWithUserSecret`, which follows a rotation in progress through `<file>.next`).
 *
 * It is re-opened:
 * - when the user's secret changed: before each request the secret files (`<file>`, `<file>.next`) are stat'ed
 *   (no read: a few µs); another inode, size, change time or a `.next` appearing or going means signstar-configure
 *   rotated (or is rotating) the secret, and the new one is proven against the backend by the re-open;
 * - when the mapping or its backend section in the configuration changed (the configuration is read per request);
 * - after a backend error (a restarted NetHSM, a re-inserted token, a refused login): the request is retried once
 *   on a fresh key, so a request does not fail for what a re-open cures. A refused login is also tried once more
 *   (openWithUserSecret already follows a rotation that finishes during its login; this covers a second one).
 * A key being replaced is closed only when the requests using it are done, and the next key is opened only after
 * that (PKCS#11 login state is shared by a process's sessions: an old session's logout must not hit the new one).
 * A hung module is bounded by the PKCS#11 watchdog (lib/backends/pkcs11/watchdog.ts: it kills this process;
 * in-flight forwarders report "try again" and the next connection starts a fresh signer).
 */
import { lstat } from "node:fs/promises";
import { pkcs11Section, netHsmSection } from "../config/mappings.js";
import { openSigningKey, openWithUserSecret, reopenMayCure, type KeyRequest, type SigningKey, type SigningKeys } from "../backends/index.js";
import { secretFilePath } from "../secrets/non-admin-paths.js";

interface Held {
  readonly id: string;
  readonly key: SigningKey;
  users: number;
  retired: boolean;
  drained?: () => void;
}

export class ResidentKeys implements SigningKeys {
  #held: Held | undefined;
  #switching: Promise<void> | undefined;
  /** How many times a key was opened (tests and the benchmark see re-opens). */
  opened = 0;

  async withKey<T>(request: KeyRequest, use: (key: SigningKey) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let held: Held;
      try {
        held = await this.#acquire(request);
      } catch (error) {
        // openWithUserSecret follows one rotation finishing during its login; a second rotation at that moment
        // would still refuse it: the files are read anew on the second try.
        if (attempt > 0 || !reopenMayCure(error)) throw error;
        continue;
      }
      try {
        return await use(held.key);
      } catch (error) {
        if (attempt > 0 || !reopenMayCure(error)) throw error;
        held.retired = true;
      } finally {
        this.#release(held);
      }
    }
  }

  /** Closes the key once the requests using it are done. */
  async close(): Promise<void> {
    while (this.#switching) await this.#switching;
    const held = this.#held;
    this.#held = undefined;
    if (held) await this.#retire(held);
  }

  async #acquire(request: KeyRequest): Promise<Held> {
    const id = await identity(request);
    for (;;) {
      const held = this.#held;
      if (held && held.id === id && !held.retired) {
        held.users++;
        return held;
      }
      if (this.#switching) {
        await this.#switching.catch(() => undefined);
        continue;
      }
      this.#switching = this.#switch(request, id).finally(() => (this.#switching = undefined));
      await this.#switching;
    }
  }

  async #switch(request: KeyRequest, id: string): Promise<void> {
    const old = this.#held;
    this.#held = undefined;
    if (old) await this.#retire(old);
    const { value: key } = await openWithUserSecret(request.mapping, request.secret, (secret) =>
      openSigningKey({ config: request.config, mapping: request.mapping, secret }),
    );
    this.opened++;
    this.#held = { id, key, users: 0, retired: false };
  }

  #release(held: Held): void {
    held.users--;
    if (held.users === 0) held.drained?.();
  }

  async #retire(held: Held): Promise<void> {
    held.retired = true;
    if (held.users > 0) await new Promise<void>((resolve) => (held.drained = resolve));
    await held.key.close().catch(() => undefined);
  }
}

/** What the held key depends on: the mapping, its backend section, and the secret files' identities. */
async function identity(request: KeyRequest): Promise<string> {
  const { config, mapping, secret } = request;
  const backend = mapping.backend === "pkcs11" ? pkcs11Section(config).module : netHsmSection(config).connections;
  const files = await Promise.all(
    (["current", "next"] as const).map(async (version) => {
      const s = await lstat(secretFilePath(secret, version), { bigint: true }).catch(() => undefined);
      return s ? `${s.ino}:${s.size}:${s.ctimeNs}:${s.mtimeNs}` : "-";
    }),
  );
  return JSON.stringify([mapping, backend, secret.systemUser, secret.backendUser, secret.handling, files]);
}
