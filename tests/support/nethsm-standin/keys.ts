/**
 * Real key material and real signatures in the NetHSM encodings (`docs/nethsm-api.yaml` key and sign operations, Nitrokey/nethsm 4e192fb9):
 * EdDSA over the message, ECDSA DER over the given digest (random k), PKCS1 type-01 padding of the given bytes,
 * PSS over the given digest with sLen = hLen and MGF1(same hash).
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  privateEncrypt,
  randomBytes,
  sign as nodeSign,
  type KeyObject,
} from "node:crypto";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import type { NetHsmKeyType, NetHsmMechanism } from "../../../lib/backends/nethsm/api-types.js";
import { HttpErr } from "./http.js";

export interface StoredKey {
  type: NetHsmKeyType;
  mechanisms: NetHsmMechanism[];
  /** Asymmetric keys. */
  privateKey?: KeyObject;
  /** Generic (AES) keys. */
  raw?: Buffer;
  tags: Set<string>;
  cert?: { contentType: string; data: Buffer };
  operations: number;
  label?: string;
}

const EC: Partial<Record<NetHsmKeyType, { nodeCurve: string; size: number; digest: number }>> = {
  EC_P256: { nodeCurve: "prime256v1", size: 32, digest: 32 },
  EC_P384: { nodeCurve: "secp384r1", size: 48, digest: 48 },
  EC_P521: { nodeCurve: "secp521r1", size: 66, digest: 64 },
  EC_P256K1: { nodeCurve: "secp256k1", size: 32, digest: 32 },
};

const MECHS_FOR_TYPE = (t: NetHsmKeyType): (m: NetHsmMechanism) => boolean => {
  if (t === "RSA") return (m) => m.startsWith("RSA_");
  if (t === "Curve25519") return (m) => m === "EdDSA_Signature";
  if (t === "EC_P256K1") return (m) => m === "ECDSA_Signature" || m === "BIP340_Signature";
  if (t.startsWith("EC_") || t.startsWith("Brainpool")) return (m) => m === "ECDSA_Signature";
  return (m) => m === "AES_Encryption_CBC" || m === "AES_Decryption_CBC";
};

export function checkMechanisms(type: NetHsmKeyType, mechanisms: NetHsmMechanism[]): void {
  if (mechanisms.length === 0 || !mechanisms.every(MECHS_FOR_TYPE(type))) throw new HttpErr(400, "Mechanism does not match key type");
}

export function generateKeyMaterial(type: NetHsmKeyType, length: number | undefined): { privateKey?: KeyObject; raw?: Buffer } {
  if (type === "RSA") {
    if (length === undefined || length < 1024 || length > 8192) throw new HttpErr(400, "RSA key length must be between 1024 and 8192.");
    return { privateKey: generateKeyPairSync("rsa", { modulusLength: length, publicExponent: 65537 }).privateKey };
  }
  if (type === "Curve25519") return { privateKey: generateKeyPairSync("ed25519").privateKey };
  const ec = EC[type];
  if (ec) return { privateKey: generateKeyPairSync("ec", { namedCurve: ec.nodeCurve }).privateKey };
  if (type === "Generic") {
    if (length === undefined || length < 128 || length > 8192) throw new HttpErr(400, "Generic key length must be between 128 and 8192.");
    return { raw: randomBytes(Math.ceil(length / 8)) };
  }
  throw new HttpErr(400, `Key type ${type} is not supported by the stand-in`);
}

const b64u = (b: Uint8Array): string => Buffer.from(b).toString("base64url");
const JWK_CRV: Record<string, string> = { EC_P256: "P-256", EC_P384: "P-384", EC_P521: "P-521", EC_P256K1: "secp256k1" };

/** JSON import (`private` member of PrivateKey). */
export function importKeyMaterial(type: NetHsmKeyType, priv: Record<string, Buffer>): { privateKey?: KeyObject; raw?: Buffer } {
  try {
    if (type === "RSA") {
      const { primeP: p, primeQ: q, publicExponent: e } = priv;
      if (!p || !q || !e) throw new HttpErr(400, "RSA import needs primeP, primeQ and publicExponent");
      return { privateKey: rsaFromPrimes(p, q, e) };
    }
    const data = priv.data;
    if (!data || Object.keys(priv).length !== 1) throw new HttpErr(400, "Key import needs exactly the data property");
    if (type === "Curve25519") {
      if (data.length !== 32) throw new HttpErr(400, "Curve25519 private key must be 32 bytes");
      return { privateKey: createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), data]), format: "der", type: "pkcs8" }) };
    }
    const ec = EC[type];
    if (ec) {
      if (data.length !== ec.size) throw new HttpErr(400, `EC private key must be ${ec.size} bytes`);
      const pub = ecPublicPoint(type, data);
      return {
        privateKey: createPrivateKey({
          key: { kty: "EC", crv: JWK_CRV[type]!, d: b64u(data), x: b64u(pub.subarray(1, 1 + ec.size)), y: b64u(pub.subarray(1 + ec.size)) },
          format: "jwk",
        }),
      };
    }
    if (type === "Generic") return { raw: Buffer.from(data) };
  } catch (e) {
    if (e instanceof HttpErr) throw e;
    throw new HttpErr(400, "Invalid private key data");
  }
  throw new HttpErr(400, `Key type ${type} is not supported by the stand-in`);
}

function ecPublicPoint(type: NetHsmKeyType, d: Uint8Array): Buffer {
  const curve = type === "EC_P256" ? p256 : type === "EC_P384" ? p384 : type === "EC_P521" ? p521 : secp256k1;
  return Buffer.from(curve.getPublicKey(d, false));
}

// ------------------------------------------------------------------ RSA from primes

const toBig = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString("hex")}`));
function fromBig(n: bigint): Buffer {
  let h = n.toString(16);
  if (h.length % 2) h = `0${h}`;
  return Buffer.from(h, "hex");
}
function modInv(a: bigint, m: bigint): bigint {
  let [r0, r1] = [a % m, m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new HttpErr(400, "RSA exponent not invertible");
  return ((s0 % m) + m) % m;
}

function rsaFromPrimes(pB: Buffer, qB: Buffer, eB: Buffer): KeyObject {
  const p = toBig(pB);
  const q = toBig(qB);
  const e = toBig(eB);
  const n = p * q;
  const d = modInv(e, (p - 1n) * (q - 1n));
  const jwk = {
    kty: "RSA",
    n: b64u(fromBig(n)),
    e: b64u(fromBig(e)),
    d: b64u(fromBig(d)),
    p: b64u(fromBig(p)),
    q: b64u(fromBig(q)),
    dp: b64u(fromBig(d % (p - 1n))),
    dq: b64u(fromBig(d % (q - 1n))),
    qi: b64u(fromBig(modInv(q, p))),
  };
  return createPrivateKey({ key: jwk, format: "jwk" });
}

/** The key type of a PKCS#8 private key (restore from a backup, where the type is not stored). */
export function keyTypeOf(k: KeyObject): NetHsmKeyType {
  if (k.asymmetricKeyType === "rsa") return "RSA";
  if (k.asymmetricKeyType === "ed25519") return "Curve25519";
  const curve = k.asymmetricKeyDetails?.namedCurve;
  for (const [t, v] of Object.entries(EC)) if (v.nodeCurve === curve) return t as NetHsmKeyType;
  const bp: Record<string, NetHsmKeyType> = { brainpoolP256r1: "BrainpoolP256", brainpoolP384r1: "BrainpoolP384", brainpoolP512r1: "BrainpoolP512" };
  if (curve && bp[curve]) return bp[curve];
  throw new Error(`unsupported key ${k.asymmetricKeyType} ${curve ?? ""}`);
}

// ------------------------------------------------------------------ public parts

export function publicJson(k: StoredKey): Record<string, string> | null {
  if (!k.privateKey) return null;
  const jwk = createPublicKey(k.privateKey).export({ format: "jwk" });
  const d = (s: string | undefined): Buffer => Buffer.from(s ?? "", "base64url");
  if (k.type === "RSA") return { modulus: d(jwk.n).toString("base64"), publicExponent: d(jwk.e).toString("base64") };
  if (k.type === "Curve25519") return { data: d(jwk.x).toString("base64") };
  return { data: Buffer.concat([Buffer.from([4]), d(jwk.x), d(jwk.y)]).toString("base64") };
}

export function publicPem(k: StoredKey): string {
  if (!k.privateKey) throw new HttpErr(400, "Generic keys have no public key");
  return createPublicKey(k.privateKey).export({ format: "pem", type: "spki" }).toString();
}

// ------------------------------------------------------------------ signing

const HASHES: Record<string, { name: string; len: number }> = {
  PSS_MD5: { name: "md5", len: 16 },
  PSS_SHA1: { name: "sha1", len: 20 },
  PSS_SHA224: { name: "sha224", len: 28 },
  PSS_SHA256: { name: "sha256", len: 32 },
  PSS_SHA384: { name: "sha384", len: 48 },
  PSS_SHA512: { name: "sha512", len: 64 },
};

const MODE_MECHANISM: Record<string, NetHsmMechanism> = {
  PKCS1: "RSA_Signature_PKCS1",
  EdDSA: "EdDSA_Signature",
  ECDSA: "ECDSA_Signature",
  BIP340: "BIP340_Signature",
  ...Object.fromEntries(Object.keys(HASHES).map((m) => [m, `RSA_Signature_${m}` as NetHsmMechanism])),
};

function rsaModulusBits(k: KeyObject): number {
  return k.asymmetricKeyDetails?.modulusLength ?? 0;
}

function mgf1(hash: string, seed: Uint8Array, len: number): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  for (let counter = 0; total < len; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    out.push(block);
    total += block.length;
  }
  return Buffer.concat(out).subarray(0, len);
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) of a given digest with sLen = hLen. */
export function emsaPssEncode(mHash: Uint8Array, hash: string, hLen: number, emBits: number): Buffer {
  const emLen = Math.ceil(emBits / 8);
  const sLen = hLen;
  if (emLen < hLen + sLen + 2) throw new HttpErr(400, "Signing failure: RSA key too short.");
  const salt = randomBytes(sLen);
  const H = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - sLen - hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(hash, H, emLen - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i] = db[i]! ^ mask[i]!;
  db[0] = db[0]! & (0xff >> (8 * emLen - emBits));
  return Buffer.concat([db, H, Buffer.from([0xbc])]);
}

export function sign(k: StoredKey, mode: string, message: Buffer): Buffer {
  if (k.type === "Generic") throw new HttpErr(400, "Generic keys can't sign.");
  const mech = MODE_MECHANISM[mode];
  if (!mech) throw new HttpErr(400, "invalid sign mode");
  const key = k.privateKey!;
  const fits =
    (k.type === "RSA" && (mode === "PKCS1" || mode.startsWith("PSS_"))) ||
    (k.type === "Curve25519" && mode === "EdDSA") ||
    (EC[k.type] !== undefined && mode === "ECDSA") ||
    (k.type === "EC_P256K1" && mode === "BIP340");
  if (!fits) throw new HttpErr(400, "invalid sign mode");
  if (!k.mechanisms.includes(mech)) throw new HttpErr(400, "Key mechanisms do not allow requested signing.");
  if (mode === "EdDSA") {
    return Buffer.from(cryptoSignEd25519(key, message));
  }
  if (mode === "PKCS1") {
    const kLen = Math.ceil(rsaModulusBits(key) / 8);
    if (message.length > kLen - 11) throw new HttpErr(400, "Signing failure: RSA key too short.");
    return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, message);
  }
  if (mode.startsWith("PSS_")) {
    const h = HASHES[mode]!;
    if (message.length !== h.len) throw new HttpErr(400, "digested data of invalid size");
    const bits = rsaModulusBits(key);
    const em = emsaPssEncode(message, h.name, h.len, bits - 1);
    const kLen = Math.ceil(bits / 8);
    return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.alloc(kLen - em.length), em]));
  }
  if (mode === "ECDSA") {
    const ec = EC[k.type]!;
    if (message.length !== ec.digest) throw new HttpErr(400, `ECDSA input must be ${ec.digest} bytes`);
    const d = Buffer.from(key.export({ format: "jwk" }).d ?? "", "base64url");
    const curve = k.type === "EC_P256" ? p256 : k.type === "EC_P384" ? p384 : k.type === "EC_P521" ? p521 : secp256k1;
    return Buffer.from(curve.sign(message, d, { prehash: false, format: "der", extraEntropy: true }));
  }
  throw new HttpErr(400, "BIP340 is not supported by the stand-in");
}

/** node:crypto Ed25519 is pure EdDSA over the whole message. */
function cryptoSignEd25519(key: KeyObject, message: Buffer): Uint8Array {
  return nodeSign(null, message, key);
}

// ------------------------------------------------------------------ decrypt / encrypt

const OAEP: Record<string, string> = { OAEP_MD5: "md5", OAEP_SHA1: "sha1", OAEP_SHA224: "sha224", OAEP_SHA256: "sha256", OAEP_SHA384: "sha384", OAEP_SHA512: "sha512" };

export function decrypt(k: StoredKey, mode: string, data: Buffer, iv: Buffer | undefined): Buffer {
  const need: NetHsmMechanism | undefined =
    mode === "RAW" ? "RSA_Decryption_RAW" : mode === "PKCS1" ? "RSA_Decryption_PKCS1" : mode === "AES_CBC" ? "AES_Decryption_CBC" : OAEP[mode] ? (`RSA_Decryption_${mode}` as NetHsmMechanism) : undefined;
  if (!need) throw new HttpErr(400, "invalid decrypt mode");
  if ((mode === "AES_CBC") !== (k.type === "Generic") || (mode !== "AES_CBC" && k.type !== "RSA")) throw new HttpErr(400, "invalid decrypt mode");
  if (!k.mechanisms.includes(need)) throw new HttpErr(400, "Key mechanisms do not allow requested decryption.");
  if (mode === "AES_CBC") {
    if (!iv || iv.length !== 16) throw new HttpErr(400, "Decryption failed: IV required");
    if (data.length % 16 !== 0) throw new HttpErr(400, "Decryption failed: input not a multiple of 16");
    const d = createDecipheriv(`aes-${k.raw!.length * 8}-cbc`, k.raw!, iv).setAutoPadding(false);
    return Buffer.concat([d.update(data), d.final()]);
  }
  const key = k.privateKey!;
  const kLen = Math.ceil(rsaModulusBits(key) / 8);
  try {
    if (mode === "RAW" || mode === "PKCS1") {
      if (data.length > kLen) throw new Error("too long");
      const raw = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.alloc(kLen - data.length), data]));
      if (mode === "RAW") return raw;
      // EME-PKCS1-v1_5 decoding (node 20 refuses RSA_PKCS1_PADDING for privateDecrypt)
      if (raw[0] !== 0 || raw[1] !== 2) throw new Error("padding");
      const sep = raw.indexOf(0, 2);
      if (sep < 10) throw new Error("padding");
      return raw.subarray(sep + 1);
    }
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP[mode]! }, data);
  } catch {
    throw new HttpErr(400, "Decryption failure");
  }
}

export function encrypt(k: StoredKey, mode: string, data: Buffer, iv: Buffer | undefined): { encrypted: Buffer; iv: Buffer } {
  if (mode !== "AES_CBC" || k.type !== "Generic") throw new HttpErr(400, "invalid encrypt mode");
  if (!k.mechanisms.includes("AES_Encryption_CBC")) throw new HttpErr(400, "Key mechanisms do not allow requested encryption.");
  if (data.length % 16 !== 0) throw new HttpErr(400, "Encryption failed: input not a multiple of 16");
  const useIv = iv ?? randomBytes(16);
  if (useIv.length !== 16) throw new HttpErr(400, "Encryption failed: IV must be 16 bytes");
  const c = createCipheriv(`aes-${k.raw!.length * 8}-cbc`, k.raw!, useIv).setAutoPadding(false);
  return { encrypted: Buffer.concat([c.update(data), c.final()]), iv: useIv };
}
