/** KeyAdministration (backend.ts) for a NetHSM, with an (R- or N-) Administrator's credentials. */
import type { KeySetup, NetHsmConnection } from "../../config/model.js";
import { publicKeySha3_384 } from "../../signing/key-digest.js";
import type { PublicKey } from "../../signing/signer.js";
import type { KeyAdministration, KeyInfo } from "../backend.js";
import type { NetHsmClient } from "./client.js";
import { netHsmGenerateArgs, publicKeyOf } from "./public-key.js";
import { openNetHsmClient } from "./session.js";
import type { ExchangeObserver } from "./transport.js";

export interface OpenNetHsmAdminOptions {
  readonly connections: readonly NetHsmConnection[];
  readonly user: string;
  readonly passphrase: string;
  readonly timeoutMs?: number;
  readonly observer?: ExchangeObserver;
  readonly extraCa?: readonly string[];
}

export function openNetHsmAdministration(opts: OpenNetHsmAdminOptions): NetHsmAdministration {
  return new NetHsmAdministration(
    openNetHsmClient(opts.connections, { user: opts.user, passphrase: opts.passphrase }, { timeoutMs: opts.timeoutMs, observer: opts.observer, extraCa: opts.extraCa }),
  );
}

export class NetHsmAdministration implements KeyAdministration {
  constructor(readonly client: NetHsmClient) {}

  /** Keys whose type can sign OpenPGP v4 (Curve25519, P-256/384/521, RSA); others are skipped. */
  async listKeys(): Promise<KeyInfo[]> {
    const out: KeyInfo[] = [];
    for (const id of await this.client.listKeys()) {
      const details = await this.client.getKey(id);
      if (!["Curve25519", "EC_P256", "EC_P384", "EC_P521", "RSA"].includes(details.type)) continue;
      const publicKey = publicKeyOf(details, id);
      out.push({ ref: id, publicKey, sha3_384: publicKeySha3_384(publicKey) });
    }
    return out;
  }

  /** Generates the key under `ref` (the NetHSM key id) with the setup's type and mechanisms; tags via addKeyTag. */
  async generateKey(ref: string, setup: KeySetup, tags: readonly string[] = []): Promise<PublicKey> {
    const id = await this.client.generateKey({ ...netHsmGenerateArgs(setup), id: ref, ...(tags.length ? { tags } : {}) });
    return publicKeyOf(await this.client.getKey(id), id);
  }

  async deleteKey(ref: string): Promise<void> {
    await this.client.deleteKey(ref);
  }

  async getCertificate(ref: string): Promise<Uint8Array | undefined> {
    return this.client.getKeyCertificate(ref);
  }

  async putCertificate(ref: string, certificate: Uint8Array): Promise<void> {
    await this.client.putKeyCertificate(ref, certificate);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
