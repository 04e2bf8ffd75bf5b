/** A NetHSM key opened for signing with an operator's credentials (implements SigningKey of backend.ts). */
import type { NetHsmConnection } from "../../config/model.js";
import { ecdsaDerToRs, hsmSigningInput, splitFixed } from "../../signing/hsm-input.js";
import type { PublicKey } from "../../signing/signer.js";
import type { SigningKey } from "../backend.js";
import { NetHsmClient } from "./client.js";
import { NetHsmError } from "./errors.js";
import { MECHANISM_FOR_MODE, publicKeyOf, signModeOf } from "./public-key.js";
import type { ExchangeObserver } from "./transport.js";

export interface OpenNetHsmSigningKeyOptions {
  readonly connections: readonly NetHsmConnection[];
  readonly user: string;
  readonly passphrase: string;
  readonly keyId: string;
  readonly timeoutMs?: number;
  /** Tests: observe every HTTP exchange (OpenAPI conformance). */
  readonly observer?: ExchangeObserver;
  /** Tests: extra trust anchors for Native TLS. */
  readonly extraCa?: readonly string[];
  /** Default true. */
  readonly keepAlive?: boolean;
}

export async function openNetHsmSigningKey(opts: OpenNetHsmSigningKeyOptions): Promise<SigningKey> {
  const client = new NetHsmClient({
    connections: opts.connections,
    credentials: { user: opts.user, passphrase: opts.passphrase },
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.observer ? { observer: opts.observer } : {}),
    ...(opts.extraCa ? { extraCa: opts.extraCa } : {}),
    ...(opts.keepAlive !== undefined ? { keepAlive: opts.keepAlive } : {}),
  });
  try {
    const details = await client.getKey(opts.keyId);
    const publicKey = publicKeyOf(details, opts.keyId);
    const mode = signModeOf(publicKey.kind);
    if (!details.mechanisms.includes(MECHANISM_FOR_MODE[mode])) {
      throw new NetHsmError(`NetHSM key ${opts.keyId} lacks mechanism ${MECHANISM_FOR_MODE[mode]} needed for ${mode} signatures`);
    }
    return new NetHsmSigningKey(client, opts.keyId, publicKey);
  } catch (e) {
    client.close();
    throw e;
  }
}

export class NetHsmSigningKey implements SigningKey {
  private closed = false;
  constructor(
    private readonly client: NetHsmClient,
    readonly keyId: string,
    readonly publicKey: PublicKey,
  ) {}

  async signDigest(digest: Uint8Array): Promise<Uint8Array[]> {
    if (this.closed) throw new NetHsmError(`NetHSM key ${this.keyId} is closed`);
    const mode = signModeOf(this.publicKey.kind);
    const sig = await this.client.sign(this.keyId, mode, hsmSigningInput(this.publicKey, digest));
    switch (this.publicKey.kind) {
      case "ed25519":
        if (sig.length !== 64) throw new NetHsmError(`NetHSM key ${this.keyId}: EdDSA signature is ${sig.length} bytes, expected 64`);
        return splitFixed(sig);
      case "ecdsa":
        return ecdsaDerToRs(sig);
      case "rsa":
        if (sig.length === 0 || sig.length > this.publicKey.n.length) {
          throw new NetHsmError(`NetHSM key ${this.keyId}: RSA signature of ${sig.length} bytes does not fit the modulus`);
        }
        return [sig];
    }
  }

  async certificate(): Promise<Uint8Array | undefined> {
    if (this.closed) throw new NetHsmError(`NetHSM key ${this.keyId} is closed`);
    return this.client.getKeyCertificate(this.keyId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.close();
  }
}
