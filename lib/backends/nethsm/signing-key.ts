/** A NetHSM key opened for signing with an operator's credentials (implements SigningKey of backend.ts). */
import type { NetHsmConnection } from "../../config/model.js";
import { SignerError } from "../../signing/errors.js";
import { hsmSigningInput, rawSignatureToMpis } from "../../signing/hsm-input.js";
import type { PublicKey } from "../../signing/signer.js";
import { MAX_ED25519_MESSAGE_BYTES, type Ed25519MessageKey, type SigningKey } from "../backend.js";
import type { NetHsmClient } from "./client.js";
import { NetHsmError } from "./errors.js";
import { MECHANISM_FOR_MODE, publicKeyOf, signModeOf } from "./public-key.js";
import { openNetHsmClient } from "./session.js";
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

export async function openNetHsmSigningKey(opts: OpenNetHsmSigningKeyOptions): Promise<NetHsmSigningKey> {
  const client = openNetHsmClient(
    opts.connections,
    { user: opts.user, passphrase: opts.passphrase },
    { timeoutMs: opts.timeoutMs, observer: opts.observer, extraCa: opts.extraCa, keepAlive: opts.keepAlive },
  );
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

export class NetHsmSigningKey implements SigningKey, Ed25519MessageKey {
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
    try {
      // The NetHSM answers ECDSA as DER, as Signstar's nethsm signer reads it.
      return rawSignatureToMpis(this.publicKey, sig, "der");
    } catch (e) {
      if (e instanceof SignerError) throw new NetHsmError(`NetHSM key ${this.keyId}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  /** Mode EdDSA signs the whole message (pure Ed25519, RFC 8032), as a C2SP signed note needs; Ed25519 keys only. */
  async signEd25519Message(message: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new NetHsmError(`NetHSM key ${this.keyId} is closed`);
    if (this.publicKey.kind !== "ed25519") throw new NetHsmError(`Ed25519 needs an Ed25519 key; NetHSM key ${this.keyId} is ${this.publicKey.kind}`);
    if (message.length > MAX_ED25519_MESSAGE_BYTES) throw new NetHsmError(`a message to sign is larger than ${MAX_ED25519_MESSAGE_BYTES} bytes (NetHSM key ${this.keyId})`);
    const sig = await this.client.sign(this.keyId, "EdDSA", message);
    if (sig.length !== 64) throw new NetHsmError(`the NetHSM returned a ${sig.length}-byte Ed25519 signature (key ${this.keyId})`);
    return sig;
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
