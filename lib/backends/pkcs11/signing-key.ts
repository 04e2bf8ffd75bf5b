/** Opening a key on a PKCS#11 token for signing with the token user PIN. */
import type { Pkcs11KeySelector, TokenSelector } from "../../config/model.js";
import { SignerError } from "../../signing/errors.js";
import { hsmSigningInput, rawSignatureToMpis } from "../../signing/hsm-input.js";
import type { PublicKey } from "../../signing/signer.js";
import { MAX_ED25519_MESSAGE_BYTES, type Ed25519MessageKey, type SigningKey } from "../backend.js";
import { coordinateLength } from "./der.js";
import { Pkcs11Error, Pkcs11PinError, Pkcs11TokenNotFoundError, Pkcs11UsageError, where } from "./errors.js";
import { checkSelector, keyRefOf } from "./key-ref.js";
import { DEFAULT_TIMEOUT_MS } from "./module.js";
import { type KeyObjects, findKey, readCertificate } from "./objects.js";
import { CKM_EDDSA, pkcs11js } from "./pkcs11js.js";
import { TokenSession, describeToken } from "./session.js";

export interface OpenPkcs11KeyOptions {
  /** Absolute path of the PKCS#11 module (.so), e.g. /usr/lib/softhsm/libsofthsm2.so or p11-kit-client.so. */
  readonly module: string;
  readonly token: TokenSelector;
  readonly key: Pkcs11KeySelector;
  /** The token user PIN. */
  readonly pin: string;
  /** Deadline for every single PKCS#11 call (default 10 s); a module exceeding it ends the process (watchdog.ts). */
  readonly timeoutMs?: number;
}

export interface Pkcs11SigningKey extends SigningKey, Ed25519MessageKey {
  /** Canonical key reference (`label:x`, or `id:hex` for unlabelled keys). */
  readonly ref: string;
  /**
   * Raw RSASSA-PSS signature (CKM_RSA_PKCS_PSS, SHA-512, MGF1-SHA-512, 64-byte salt) over a 64-byte SHA-512
   * digest, for raw (non-OpenPGP) signatures. RSA keys only.
   */
  signPssSha512(digest: Uint8Array): Promise<Uint8Array>;
  /** CKM_EDDSA without parameters (pure Ed25519); Ed25519 keys only. */
  signEd25519Message(message: Uint8Array): Promise<Uint8Array>;
}

const MAX_PIN_BYTES = 256;

/** Checks a PIN without ever echoing it. */
export function checkPin(pin: string, what: string): void {
  if (typeof pin !== "string" || pin.length === 0 || Buffer.byteLength(pin) > MAX_PIN_BYTES || /[\0\r\n]/.test(pin)) {
    throw new Pkcs11UsageError(`${what} must be 1–${MAX_PIN_BYTES} bytes without NUL or line breaks`);
  }
}

function signatureLength(pk: PublicKey): number {
  switch (pk.kind) {
    case "ed25519":
      return 64;
    case "ecdsa":
      return 2 * coordinateLength(pk.curve);
    case "rsa":
      return pk.n.length;
  }
}

function mechanismOf(pk: PublicKey): number {
  switch (pk.kind) {
    case "ed25519":
      return CKM_EDDSA;
    case "ecdsa":
      return pkcs11js.CKM_ECDSA;
    case "rsa":
      return pkcs11js.CKM_RSA_PKCS;
  }
}

/** Return values after which a fresh attempt can succeed (the token was briefly unreadable), never PIN errors. */
const TRANSIENT = new Set(["CKR_GENERAL_ERROR", "CKR_DEVICE_ERROR", "CKR_TOKEN_NOT_PRESENT", "CKR_TOKEN_NOT_RECOGNIZED"]);
/** Delays before the 2nd, 3rd and 4th attempt. */
const RETRY_DELAYS_MS = [20, 60, 150];

/**
 * SoftHSM's file store rewrites the token file on every login, so a process that opens the token at that moment
 * sees no token or CKR_GENERAL_ERROR (SoftHSMv2 issue #757; measured here: 2 of 48 opens by 16 concurrent processes failed). Such an
 * open is retried a few times with short delays; a wrong PIN, a missing key or mechanism never is.
 */
export function isTransientOpenFailure(error: unknown): boolean {
  if (error instanceof Pkcs11TokenNotFoundError) return true;
  return error instanceof Pkcs11Error && !(error instanceof Pkcs11PinError) && error.ckr !== undefined && TRANSIENT.has(error.ckr);
}

export async function openPkcs11SigningKey(opts: OpenPkcs11KeyOptions): Promise<Pkcs11SigningKey> {
  checkSelector(opts.key);
  checkPin(opts.pin, `the user PIN for token ${describeToken(opts.token)}`);
  for (let attempt = 0; ; attempt++) {
    try {
      return openOnce(opts);
    } catch (error) {
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay === undefined || !isTransientOpenFailure(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay + Math.floor(Math.random() * delay)));
    }
  }
}

function openOnce(opts: OpenPkcs11KeyOptions): Pkcs11SigningKey {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const session = TokenSession.open({ module: opts.module, token: opts.token, timeoutMs, rw: false });
  let key: KeyObjects;
  try {
    session.login(pkcs11js.CKU_USER, opts.pin);
    key = findKey(session, opts.key);
  } catch (e) {
    session.close();
    throw e;
  }
  return new OpenKey(session, key, keyRefOf(opts.key));
}

class OpenKey implements Pkcs11SigningKey {
  readonly publicKey: PublicKey;
  readonly ref: string;
  constructor(
    private readonly session: TokenSession,
    private readonly key: KeyObjects,
    private readonly selectedAs: string,
  ) {
    this.publicKey = key.publicKey;
    this.ref = key.ref;
  }

  private sign(mechanism: { mechanism: number; parameter?: pkcs11js.RsaPSS }, input: Uint8Array, outLen: number): Uint8Array {
    return this.session.do(
      "C_Sign",
      (lib, s) => {
        lib.C_SignInit(s, mechanism, this.key.privateKey);
        const sig = lib.C_Sign(s, Buffer.from(input.buffer, input.byteOffset, input.byteLength), Buffer.alloc(outLen));
        return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
      },
      { key: this.selectedAs, mechanism: mechanism.mechanism },
    );
  }

  async signDigest(digest: Uint8Array): Promise<Uint8Array[]> {
    if (digest.length !== 64) {
      throw new Pkcs11UsageError(`signDigest needs a 64-byte SHA-512 digest, got ${digest.length} bytes (key ${this.selectedAs})`);
    }
    const pk = this.publicKey;
    const sig = this.sign({ mechanism: mechanismOf(pk) }, hsmSigningInput(pk, digest), signatureLength(pk));
    try {
      // CKM_ECDSA returns r ‖ s of fixed size (PKCS#11 v2.40 §2.3.1), CKM_EDDSA R ‖ S (RFC 8032 §5.1.6).
      return rawSignatureToMpis(pk, sig, "fixed");
    } catch (e) {
      if (e instanceof SignerError) throw new Pkcs11Error(`${e.message} (${where(this.session.ctx)}, key ${this.selectedAs})`, { cause: e });
      throw e;
    }
  }

  async signPssSha512(digest: Uint8Array): Promise<Uint8Array> {
    if (this.publicKey.kind !== "rsa") {
      throw new Pkcs11UsageError(`RSA-PSS needs an RSA key; key ${this.selectedAs} is ${this.publicKey.kind} (${where(this.session.ctx)})`);
    }
    if (digest.length !== 64) {
      throw new Pkcs11UsageError(`signPssSha512 needs a 64-byte SHA-512 digest, got ${digest.length} bytes (key ${this.selectedAs})`);
    }
    const parameter: pkcs11js.RsaPSS = {
      type: pkcs11js.CK_PARAMS_RSA_PSS,
      hashAlg: pkcs11js.CKM_SHA512,
      mgf: pkcs11js.CKG_MGF1_SHA512,
      saltLen: 64,
    };
    return this.sign({ mechanism: pkcs11js.CKM_RSA_PKCS_PSS, parameter }, digest, this.publicKey.n.length);
  }

  async signEd25519Message(message: Uint8Array): Promise<Uint8Array> {
    if (this.publicKey.kind !== "ed25519") {
      throw new Pkcs11UsageError(`Ed25519 needs an Ed25519 key; key ${this.selectedAs} is ${this.publicKey.kind} (${where(this.session.ctx)})`);
    }
    if (message.length > MAX_ED25519_MESSAGE_BYTES) throw new Pkcs11UsageError(`a message to sign is larger than ${MAX_ED25519_MESSAGE_BYTES} bytes (key ${this.selectedAs})`);
    const sig = this.sign({ mechanism: CKM_EDDSA }, message, 64);
    if (sig.length !== 64) throw new Pkcs11Error(`the token returned a ${sig.length}-byte Ed25519 signature (${where(this.session.ctx)}, key ${this.selectedAs})`);
    return sig;
  }

  async certificate(): Promise<Uint8Array | undefined> {
    return this.session.do("C_GetAttributeValue", (lib, s) => readCertificate(lib, s, this.key, `${where(this.session.ctx)}, key ${this.selectedAs}`), {
      key: this.selectedAs,
    });
  }

  async close(): Promise<void> {
    this.session.close();
  }
}
