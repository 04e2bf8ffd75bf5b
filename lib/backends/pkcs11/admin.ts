/**
 * Token administration for signstar-configure: token initialization (where the module has a free slot, as
 * SoftHSM does), user PIN setup and rotation, key generation/deletion/listing and certificate storage.
 */
import { randomBytes } from "node:crypto";
import type { KeySetup, TokenSelector } from "../../config/model.js";
import { publicKeySha3_384 } from "../../signing/key-digest.js";
import { publicKeysEqual } from "../../signing/public-key.js";
import type { PublicKey } from "../../signing/signer.js";
import type { KeyAdministration, KeyInfo } from "../backend.js";
import { Pkcs11Error, Pkcs11TokenNotFoundError, Pkcs11UsageError, where } from "./errors.js";
import { checkSelector, parseKeyRef } from "./key-ref.js";
import { keyPairTemplate } from "./keygen.js";
import { DEFAULT_TIMEOUT_MS, acquireModule, releaseModule } from "./module.js";
import { MAX_CERTIFICATE_BYTES, parseCertificate } from "../../signing/openpgp/certificate.js";
import {
  findCertificateObjects,
  findKey,
  findObjects,
  keyObjects,
  readCertificate,
  readPublicKey,
  selectorTemplate,
  writeCertificate,
} from "./objects.js";
import { pkcs11js } from "./pkcs11js.js";
import { TokenSession, describeToken, run, trimField } from "./session.js";
import { checkPin } from "./signing-key.js";

/** Key generation may take long on real HSMs (RSA 4096: seconds to minutes). */
export const KEYGEN_TIMEOUT_MS = 180_000;

export interface Pkcs11KeyInfo extends KeyInfo {
  /** CKA_LABEL ("" if none). */
  readonly label: string;
  /** CKA_ID as lowercase hex ("" if none). */
  readonly id: string;
  /** Uppercase hex v4 fingerprint of the stored OpenPGP certificate, if one is stored. */
  readonly openpgpFingerprint?: string;
}

export interface Pkcs11Administration extends KeyAdministration {
  listKeys(): Promise<Pkcs11KeyInfo[]>;
}

interface Common {
  readonly module: string;
  readonly timeoutMs?: number;
}

/**
 * Opens the token for object management. PKCS#11 only lets the user (not the SO) create private objects, so
 * this logs in with the user PIN; the SO PIN is needed for initPkcs11Token and setPkcs11UserPin only.
 */
export async function openPkcs11Admin(opts: Common & { readonly token: TokenSelector; readonly userPin: string }): Promise<Pkcs11Administration> {
  checkPin(opts.userPin, `the user PIN for token ${describeToken(opts.token)}`);
  const session = TokenSession.open({ module: opts.module, token: opts.token, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, rw: true });
  try {
    session.login(pkcs11js.CKU_USER, opts.userPin);
  } catch (e) {
    session.close();
    throw e;
  }
  return new Admin(session);
}

/**
 * Initializes a new token in the first slot whose token is not initialized (SoftHSM always offers one) with
 * `label` and the SO PIN, then sets the user PIN. Refuses if a token with that label exists already.
 */
export async function initPkcs11Token(
  opts: Common & { readonly label: string; readonly soPin: string; readonly userPin: string },
): Promise<{ label: string; serial: string }> {
  if (opts.label.length === 0 || Buffer.byteLength(opts.label) > 32 || /[\0-\x1f]/.test(opts.label) || opts.label !== opts.label.trim()) {
    throw new Pkcs11UsageError(`token label "${opts.label.slice(0, 40)}" must be 1–32 bytes, no control characters or outer spaces`);
  }
  checkPin(opts.soPin, `the SO PIN for token label "${opts.label}"`);
  checkPin(opts.userPin, `the user PIN for token label "${opts.label}"`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const m = acquireModule(opts.module, timeoutMs);
  try {
    const ctx = { module: m.path, token: `label "${opts.label}"` };
    const slots = run(m, "C_GetSlotList", ctx, (lib) =>
      lib.C_GetSlotList(true).map((slot) => ({ slot, info: lib.C_GetTokenInfo(slot) })),
    );
    if (slots.some((s) => (s.info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0 && trimField(s.info.label) === opts.label)) {
      throw new Pkcs11UsageError(`a token with label "${opts.label}" exists already in module ${m.path}`);
    }
    const free = slots.find((s) => (s.info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0);
    if (free === undefined) {
      throw new Pkcs11TokenNotFoundError(`module ${m.path} has no uninitialized token to initialize; initialize it with the vendor's tool`);
    }
    // pkcs11js passes the label as is; PKCS#11 wants it blank-padded to 32 bytes.
    const padded = opts.label + " ".repeat(32 - Buffer.byteLength(opts.label));
    run(m, "C_InitToken", ctx, (lib) => lib.C_InitToken(free.slot, opts.soPin, padded), Math.max(timeoutMs, 60_000));
  } finally {
    releaseModule(m);
  }
  // The token may have moved to another slot id (SoftHSM): find it by label from scratch.
  await setPkcs11UserPin({ module: opts.module, token: { label: opts.label }, soPin: opts.soPin, newPin: opts.userPin, ...timeoutOpt(opts) });
  const s = TokenSession.open({ module: opts.module, token: { label: opts.label }, timeoutMs, rw: false });
  try {
    return { label: s.token.label, serial: s.token.serial };
  } finally {
    s.close();
  }
}

function timeoutOpt(o: Common): { timeoutMs?: number } {
  return o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {};
}

/** Sets (or resets, e.g. after CKR_PIN_LOCKED) the user PIN as security officer (C_InitPIN). */
export async function setPkcs11UserPin(opts: Common & { readonly token: TokenSelector; readonly soPin: string; readonly newPin: string }): Promise<void> {
  checkPin(opts.soPin, `the SO PIN for token ${describeToken(opts.token)}`);
  checkPin(opts.newPin, `the new user PIN for token ${describeToken(opts.token)}`);
  const s = TokenSession.open({ module: opts.module, token: opts.token, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, rw: true });
  try {
    s.login(pkcs11js.CKU_SO, opts.soPin);
    s.do("C_InitPIN", (lib, h) => lib.C_InitPIN(h, opts.newPin));
    s.do("C_Logout", (lib, h) => lib.C_Logout(h));
  } finally {
    s.close();
  }
}

/**
 * Proves the SO PIN: C_Login as security officer, then C_Logout; nothing on the token changes. signstar-configure
 * calls it before it stores a new form of the admin secret, so a secret the token does not accept is never
 * split, staged or written over the one that works. Wrong PIN → Pkcs11PinError (locked: Pkcs11PinLockedError).
 */
export async function checkPkcs11SoPin(opts: Common & { readonly token: TokenSelector; readonly soPin: string }): Promise<void> {
  checkPin(opts.soPin, `the SO PIN for token ${describeToken(opts.token)}`);
  // An SO login needs a read/write session (PKCS#11 v2.40, C_Login: CKR_SESSION_READ_ONLY_EXISTS).
  const s = TokenSession.open({ module: opts.module, token: opts.token, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, rw: true });
  try {
    s.login(pkcs11js.CKU_SO, opts.soPin);
    s.do("C_Logout", (lib, h) => lib.C_Logout(h));
  } finally {
    s.close();
  }
}

/** Rotates the user PIN with the old one (C_SetPIN). */
export async function changePkcs11UserPin(opts: Common & { readonly token: TokenSelector; readonly oldPin: string; readonly newPin: string }): Promise<void> {
  checkPin(opts.oldPin, `the current user PIN for token ${describeToken(opts.token)}`);
  checkPin(opts.newPin, `the new user PIN for token ${describeToken(opts.token)}`);
  const s = TokenSession.open({ module: opts.module, token: opts.token, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, rw: true });
  try {
    s.login(pkcs11js.CKU_USER, opts.oldPin);
    s.do("C_SetPIN", (lib, h) => lib.C_SetPIN(h, opts.oldPin, opts.newPin));
  } finally {
    s.close();
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex").toUpperCase();
}

class Admin implements Pkcs11Administration {
  constructor(private readonly s: TokenSession) {}

  async listKeys(): Promise<Pkcs11KeyInfo[]> {
    const keys = this.s.do("C_FindObjects", (lib, h) =>
      findObjects(lib, h, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]).flatMap((priv) => {
        try {
          const k = keyObjects(lib, h, priv, where(this.s.ctx));
          return [{ k, cert: readCertificate(lib, h, k, `${where(this.s.ctx)}, key ${k.ref}`) }];
        } catch (e) {
          // Keys of types Signstar cannot use (e.g. AES-wrapped, secp256k1) are not listed.
          if (e instanceof Pkcs11Error && /unsupported/.test(e.message)) return [];
          throw e;
        }
      }),
    );
    const parse = keys.some((k) => k.cert !== undefined) ? parseCertificate : undefined;
    return keys
      .map(({ k, cert }) => {
        let fpr: string | undefined;
        if (cert !== undefined && parse !== undefined) {
          try {
            fpr = hex(parse(cert).fingerprint);
          } catch {
            fpr = undefined;
          }
        }
        return {
          ref: k.ref,
          label: k.label,
          id: k.id,
          publicKey: k.publicKey,
          sha3_384: publicKeySha3_384(k.publicKey),
          ...(fpr !== undefined ? { openpgpFingerprint: fpr } : {}),
        };
      })
      .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  async generateKey(ref: string, setup: KeySetup): Promise<PublicKey> {
    const sel = parseKeyRef(ref);
    checkSelector(sel);
    const exists = this.s.do("C_FindObjects", (lib, h) => findObjects(lib, h, [selectorTemplate(sel)]).length > 0, { key: ref });
    if (exists) throw new Pkcs11UsageError(`key ${ref} exists already on ${where(this.s.ctx)}`);
    const id = "id" in sel ? Buffer.from(sel.id, "hex") : randomBytes(16);
    const label = "label" in sel ? sel.label : undefined;
    const t = keyPairTemplate(setup, label, id);
    return this.s.do(
      "C_GenerateKeyPair",
      (lib, h) => {
        const pair = lib.C_GenerateKeyPair(h, { mechanism: t.mechanism }, t.publicTemplate, t.privateTemplate);
        return readPublicKey(lib, h, pair.publicKey, `${where(this.s.ctx)}, key ${ref}`);
      },
      { key: ref, mechanism: t.mechanism, timeoutMs: Math.max(this.s.module.timeoutMs, KEYGEN_TIMEOUT_MS) },
    );
  }

  async deleteKey(ref: string): Promise<void> {
    const sel = parseKeyRef(ref);
    this.s.do(
      "C_DestroyObject",
      (lib, h) => {
        const key = findKey(this.s, sel);
        const link = key.id !== "" ? { type: pkcs11js.CKA_ID, value: Buffer.from(key.id, "hex") } : selectorTemplate(sel);
        const pubs = findObjects(lib, h, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, link]);
        const certs = findCertificateObjects(lib, h, key);
        for (const o of [...certs, ...pubs, key.privateKey]) lib.C_DestroyObject(h, o);
      },
      { key: ref },
    );
  }

  async getCertificate(ref: string): Promise<Uint8Array | undefined> {
    const key = findKey(this.s, parseKeyRef(ref));
    return this.s.do("C_GetAttributeValue", (lib, h) => readCertificate(lib, h, key, `${where(this.s.ctx)}, key ${ref}`), { key: ref });
  }

  /** Stores (replaces) the certificate; it must be a v4 certificate of exactly this key. */
  async putCertificate(ref: string, certificate: Uint8Array): Promise<void> {
    if (certificate.length === 0 || certificate.length > MAX_CERTIFICATE_BYTES) {
      throw new Pkcs11UsageError(`certificate for key ${ref} has ${certificate.length} bytes (1–${MAX_CERTIFICATE_BYTES} allowed)`);
    }
    const key = findKey(this.s, parseKeyRef(ref));
    let certKey: PublicKey;
    try {
      certKey = parseCertificate(certificate).publicKey;
    } catch (e) {
      throw new Pkcs11UsageError(`certificate for key ${ref} is not a valid OpenPGP v4 certificate: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!publicKeysEqual(certKey, key.publicKey)) {
      throw new Pkcs11UsageError(`certificate for key ${ref} belongs to another key (${where(this.s.ctx)})`);
    }
    this.s.do("C_CreateObject", (lib, h) => writeCertificate(lib, h, key, certificate), { key: ref });
  }

  async close(): Promise<void> {
    this.s.close();
  }
}

