/**
 * Parse-don't-validate constructors for every primitive of the configuration (Signstar's rules: `signstar-config/src/config/credentials.rs`,
 * `signstar-crypto/src/key/setup.rs`, archlinux/signstar d6ad4e9).
 * String constructors throw InvalidValue (message names the value, not its location); structured values
 * (key setups, TLS security, token/key selectors, secret handling) have a `parseX(value, location, problems)`
 * form that records located problems, and a throwing `x(raw)` form for callers outside a config file.
 */
import path from "node:path";
import type {
  AdminSecretHandling,
  HttpsUrl,
  KeyId,
  KeyMechanism,
  KeySetup,
  KeyType,
  LogOrigin,
  NamespaceId,
  NetHsmUserId,
  Pkcs11KeySelector,
  SecretHandling,
  SignatureType,
  SystemUserId,
  Tag,
  TlsSecurity,
  TokenSelector,
} from "./model.js";
import { InvalidValue, Problems, formatProblem } from "./problems.js";
import { MAX_STRING, TableReader, describe, int, isTable, list, str, variant, type Parser } from "./reader.js";

export { authorizedKey, sshKeyData, SSH_KEY_TYPES } from "./ssh-key.js";

const q = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 79)}…` : s);

// ---------------------------------------------------------------- names and ids

/** Unix user name: 1–32 ASCII characters of `[A-Za-z0-9_-]` (Signstar: same set, no length limit). */
export function systemUserId(s: string): SystemUserId {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(s)) {
    throw new InvalidValue(`the system user name ${q(s)} is invalid (use 1 to 32 characters of A-Z, a-z, 0-9, "_" and "-")`);
  }
  return s as SystemUserId;
}

const ID_PART = /^[a-z0-9]{1,128}$/;

/**
 * NetHSM user id: system-wide `[a-z0-9]+` or namespaced `ns~name` (both parts `[a-z0-9]+`, ASCII only, ≤ 128 each).
 * Deviation from Signstar: `foo~` (empty name) is rejected, and non-ASCII digits are rejected.
 */
export function netHsmUserId(s: string): NetHsmUserId {
  const parts = s.split("~");
  const ok = parts.length <= 2 && parts.every((p) => ID_PART.test(p));
  if (!ok) {
    throw new InvalidValue(
      `the NetHSM user ID ${q(s)} is invalid (use "name" or "namespace~name", each part 1 to 128 characters of a-z and 0-9)`,
    );
  }
  return s as NetHsmUserId;
}

/** A NetHSM user id without namespace (backup and metrics users must be system-wide). */
export function systemWideUserId(s: string): NetHsmUserId {
  const id = netHsmUserId(s);
  if (namespaceOf(id) !== undefined) {
    throw new InvalidValue(`the NetHSM user ID ${q(s)} has a namespace, but this user must be system-wide`);
  }
  return id;
}

export function namespaceId(s: string): NamespaceId {
  if (!ID_PART.test(s)) throw new InvalidValue(`the namespace ${q(s)} is invalid (use 1 to 128 characters of a-z and 0-9)`);
  return s as NamespaceId;
}

/** The namespace of a namespaced user id (`ns1~alice` → `ns1`), undefined for system-wide ids. */
export function namespaceOf(id: NetHsmUserId): NamespaceId | undefined {
  const i = id.indexOf("~");
  return i < 0 ? undefined : (id.slice(0, i) as NamespaceId);
}

export function keyId(s: string): KeyId {
  if (!ID_PART.test(s)) throw new InvalidValue(`the key ID ${q(s)} is invalid (use 1 to 128 characters of a-z and 0-9)`);
  return s as KeyId;
}

/** NetHSM tag: 1–128 characters of `[A-Za-z0-9_.-]`, not starting with `_`, `.` or `-` (the NetHSM's ID rule). */
export function tag(s: string): Tag {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(s)) {
    throw new InvalidValue(
      `the tag ${q(s)} is invalid (use 1 to 128 characters of A-Z, a-z, 0-9, "_", "." and "-", starting with a letter or digit)`,
    );
  }
  return s as Tag;
}

/** https URL with a host, without user, password, query or fragment; normalised like url::Url (`https://h:1` → `https://h:1/`). */
export function httpsUrl(s: string): HttpsUrl {
  const bad = (why: string): never => {
    throw new InvalidValue(`the URL ${q(s)} is invalid: ${why}`);
  };
  if (s.length > 2048) bad("longer than 2048 characters");
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return bad("not a URL");
  }
  if (u.protocol !== "https:") bad("it must use https");
  if (u.hostname === "") bad("it has no host");
  if (u.username !== "" || u.password !== "") bad("it must not contain a user or password");
  if (u.search !== "" || s.includes("?")) bad("it must not contain a query");
  if (u.hash !== "" || s.includes("#")) bad("it must not contain a fragment");
  return u.href as HttpsUrl;
}

/** Absolute, normalised path of a PKCS#11 module. */
export function modulePath(s: string): string {
  if (s.length === 0 || s.length > 4096 || s.includes("\0")) throw new InvalidValue(`the module path ${q(s)} is invalid`);
  if (!path.posix.isAbsolute(s)) throw new InvalidValue(`the module path ${q(s)} must be absolute`);
  if (path.posix.normalize(s) !== s || s.endsWith("/")) {
    throw new InvalidValue(`the module path ${q(s)} must be normalised (no "..", "." or repeated "/")`);
  }
  return s;
}

// ---------------------------------------------------------------- signing log

/** A log origin, e.g. "signer.example.org/signstar-log" (the grammar of a C2SP signed-note key name, 1-255 chars). */
export function logOrigin(s: string): LogOrigin {
  if (!/^[\x21-\x2a\x2c-\x7e]{1,255}$/.test(s)) {
    throw new InvalidValue(`the signing log origin ${q(s)} must be 1 to 255 printable ASCII characters without spaces or "+"`);
  }
  return s as LogOrigin;
}

/** `signing_log.pkcs11_token`: a token label, the grammar of `token = { label = … }` in `[pkcs11]`. */
export function logTokenLabel(s: string): string {
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(s)) {
    throw new InvalidValue(`the token label ${q(s)} is invalid (1 to 32 characters of A-Z, a-z, 0-9, ".", "_" and "-")`);
  }
  return s;
}

// ---------------------------------------------------------------- secret handling

export function secretHandling(s: string): SecretHandling {
  if (s === "plaintext" || s === "systemd-creds") return s;
  throw new InvalidValue(`unknown secret handling ${q(s)} (use "plaintext" or "systemd-creds")`);
}

export function auditLogPolicy(s: string): "required" | "best-effort" {
  if (s === "required" || s === "best-effort") return s;
  throw new InvalidValue(`unknown audit_log ${q(s)} (use "required" or "best-effort")`);
}

export const MAX_SHARES = 255;

// ---------------------------------------------------------------- signing limits

/**
 * `[system] signing_concurrency` / `signing_queue`: per signing user, how many signing requests are handled at
 * once and how many more may wait for a place; beyond that a request is refused at once (exit 9, Busy). The
 * resident signer (lib/signer/server.ts) and the forwarder's fallback (lib/signer/native/forwarder.c, same
 * defaults and bounds) read them from SIGNSTAR_SIGNER_CONCURRENT / SIGNSTAR_SIGNER_QUEUED, which
 * signstar-configure-build sets from here (the signer unit's drop-in, each signing user's sshd SetEnv).
 */
export const SIGNING_LIMITS = {
  concurrency: { min: 1, max: 1024, default: 4 },
  queue: { min: 0, max: 1024, default: 16 },
} as const;

export const parseAdminSecretHandling: Parser<AdminSecretHandling> = (v, loc, problems) => {
  if (typeof v === "string") {
    if (v === "plaintext" || v === "systemd-creds") return { kind: v };
    if (v === "shamirs-secret-sharing") {
      problems.add(loc, 'write { shamirs-secret-sharing = { number_of_shares = N, threshold = T } } to use Shamir\'s Secret Sharing');
      return undefined;
    }
    problems.add(loc, `unknown secret handling ${q(v)} (use "plaintext", "systemd-creds" or { shamirs-secret-sharing = { … } })`);
    return undefined;
  }
  const tagged = variant(v, loc, problems, ["shamirs-secret-sharing"] as const);
  if (tagged === undefined) return undefined;
  const t = TableReader.open(tagged.value, tagged.location, problems);
  if (t === undefined) return undefined;
  const numberOfShares = t.required("number_of_shares", int(2, MAX_SHARES));
  const threshold = t.required("threshold", int(2, MAX_SHARES));
  t.finish();
  if (numberOfShares === undefined || threshold === undefined) return undefined;
  if (threshold > numberOfShares) {
    problems.add(t.at("threshold"), `the threshold ${threshold} is larger than number_of_shares ${numberOfShares}`);
    return undefined;
  }
  return { kind: "shamirs-secret-sharing", numberOfShares, threshold };
};

// ---------------------------------------------------------------- TLS

const parseFingerprint: Parser<string> = (v, loc, problems) => {
  const s = str(v, loc, problems);
  if (s === undefined) return undefined;
  const hex = s.includes(":") ? s.split(":").join("") : s;
  if (!/^[0-9a-fA-F]{64}$/.test(hex) || (s.includes(":") && !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){31}$/.test(s))) {
    problems.add(loc, `the SHA-256 fingerprint ${q(s)} is invalid (64 hex digits, optionally in colon-separated pairs)`);
    return undefined;
  }
  return hex.toLowerCase();
};

/** `"Unsafe" | "Native" | { fingerprints = { sha256 = [...] } }` (Signstar's files spell the table key `Fingerprints`). */
export function tlsSecurityParser(fingerprintsKey: "fingerprints" | "Fingerprints" = "fingerprints"): Parser<TlsSecurity> {
  return (v, loc, problems) => {
    if (typeof v === "string") {
      if (v === "Unsafe" || v === "Native") return { kind: v };
      problems.add(loc, `unknown TLS security ${q(v)} (use "Unsafe", "Native" or { ${fingerprintsKey} = { sha256 = [...] } })`);
      return undefined;
    }
    const tagged = variant(v, loc, problems, [fingerprintsKey] as const);
    if (tagged === undefined) return undefined;
    const t = TableReader.open(tagged.value, tagged.location, problems);
    if (t === undefined) return undefined;
    const sha256 = t.required("sha256", list(parseFingerprint, { nonEmpty: true, max: 64 }));
    t.finish();
    if (sha256 === undefined || sha256.some((x) => x === undefined)) return undefined;
    const fps = sha256 as string[];
    const dup = fps.findIndex((f, i) => fps.indexOf(f) !== i);
    if (dup >= 0) {
      problems.add(`${t.at("sha256")}[${dup}]`, `duplicate fingerprint ${q(fps[dup]!)}`);
      return undefined;
    }
    return { kind: "Fingerprints", sha256: fps };
  };
}

// ---------------------------------------------------------------- PKCS#11 selectors

export const parseTokenSelector: Parser<TokenSelector> = (v, loc, problems) => {
  const tagged = variant(v, loc, problems, ["label", "serial"] as const);
  if (tagged === undefined) return undefined;
  const s = str(tagged.value, tagged.location, problems);
  if (s === undefined) return undefined;
  if (tagged.kind === "label") {
    if (!/^[A-Za-z0-9._-]{1,32}$/.test(s)) {
      problems.add(tagged.location, `the token label ${q(s)} is invalid (1 to 32 characters of A-Z, a-z, 0-9, ".", "_" and "-")`);
      return undefined;
    }
    return { label: s };
  }
  if (!/^[A-Za-z0-9]{1,16}$/.test(s)) {
    problems.add(tagged.location, `the token serial ${q(s)} is invalid (1 to 16 characters of A-Z, a-z and 0-9)`);
    return undefined;
  }
  return { serial: s };
};

export const parseKeySelector: Parser<Pkcs11KeySelector> = (v, loc, problems) => {
  const tagged = variant(v, loc, problems, ["label", "id"] as const);
  if (tagged === undefined) return undefined;
  const s = str(tagged.value, tagged.location, problems);
  if (s === undefined) return undefined;
  if (tagged.kind === "label") {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(s)) {
      problems.add(tagged.location, `the key label ${q(s)} is invalid (1 to 128 characters of A-Z, a-z, 0-9, ".", "_" and "-")`);
      return undefined;
    }
    return { label: s };
  }
  if (!/^([0-9a-fA-F]{2}){1,64}$/.test(s)) {
    problems.add(tagged.location, `the key id ${q(s)} is invalid (an even number of hex digits, 1 to 64 bytes)`);
    return undefined;
  }
  return { id: s.toLowerCase() };
};

// ---------------------------------------------------------------- key setup

const KEY_TYPES = ["Curve25519", "EcP256", "EcP384", "EcP521", "Rsa"] as const satisfies readonly KeyType[];
const MECHANISMS = ["EdDsaSignature", "EcdsaSignature", "RsaSignaturePkcs1"] as const satisfies readonly KeyMechanism[];
const SIGNATURE_TYPES = ["EdDsa", "EcdsaP256", "EcdsaP384", "EcdsaP521", "Pkcs1"] as const satisfies readonly SignatureType[];

/** The only valid OpenPGP v4 signing combinations (Signstar's `validate_signing_key_setup`, `signstar-crypto/src/key/setup.rs`, archlinux/signstar d6ad4e9). */
export const SIGNING_COMBINATIONS: Readonly<Record<KeyType, { mechanism: KeyMechanism; signature: SignatureType }>> = {
  Curve25519: { mechanism: "EdDsaSignature", signature: "EdDsa" },
  EcP256: { mechanism: "EcdsaSignature", signature: "EcdsaP256" },
  EcP384: { mechanism: "EcdsaSignature", signature: "EcdsaP384" },
  EcP521: { mechanism: "EcdsaSignature", signature: "EcdsaP521" },
  Rsa: { mechanism: "RsaSignaturePkcs1", signature: "Pkcs1" },
};

export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 16384;
export const MAX_USER_ID_BYTES = 4096;

function oneOf<T extends string>(allowed: readonly T[], what: string): Parser<T> {
  return (v, loc, problems) => {
    const s = str(v, loc, problems);
    if (s === undefined) return undefined;
    if ((allowed as readonly string[]).includes(s)) return s as T;
    problems.add(loc, `unsupported ${what} ${q(s)} (supported: ${allowed.join(", ")})`);
    return undefined;
  };
}

const parseUserId: Parser<string> = (v, loc, problems) => {
  const s = str(v, loc, problems);
  if (s === undefined) return undefined;
  if (s === "") problems.add(loc, "an OpenPGP user ID must not be empty");
  else if (Buffer.byteLength(s, "utf8") > MAX_USER_ID_BYTES) problems.add(loc, `an OpenPGP user ID must not exceed ${MAX_USER_ID_BYTES} bytes`);
  else return s;
  return undefined;
};

const parseOpenPgpVersion: Parser<4> = (v, loc, problems) => {
  const s = str(v, loc, problems);
  if (s === undefined) return undefined;
  if (["4", "v4", "V4", "OpenPGPv4"].includes(s)) return 4;
  if (["6", "v6", "V6", "OpenPGPv6"].includes(s)) problems.add(loc, "OpenPGP version 6 is not supported (use \"4\")");
  else problems.add(loc, `unknown OpenPGP version ${q(s)} (use "4")`);
  return undefined;
};

/** `{ key_type, key_mechanisms, signature_type, key_length?, key_context = { openpgp = { user_ids, version } } }` */
export const parseKeySetup: Parser<KeySetup> = (v, loc, problems) => {
  const t = TableReader.open(v, loc, problems);
  if (t === undefined) return undefined;
  const before = problems.list.length;
  const keyType = t.required("key_type", oneOf(KEY_TYPES, "key type"));
  const mechanisms = t.required("key_mechanisms", list(oneOf(MECHANISMS, "key mechanism"), { nonEmpty: true, max: 16 }));
  const signatureType = t.required("signature_type", oneOf(SIGNATURE_TYPES, "signature type"));
  const keyLength = t.optional("key_length", int(1, 1 << 20));
  const context = t.required("key_context", (cv, cloc, p) => {
    const tagged = variant(cv, cloc, p, ["openpgp", "raw"] as const);
    if (tagged === undefined) return undefined;
    if (tagged.kind === "raw") {
      p.add(tagged.location, "the raw key context is not supported (signing keys here are OpenPGP v4 keys: use openpgp)");
      return undefined;
    }
    const o = TableReader.open(tagged.value, tagged.location, p);
    if (o === undefined) return undefined;
    const userIds = o.required("user_ids", list(parseUserId, { nonEmpty: true, max: 64 }));
    const version = o.required("version", parseOpenPgpVersion);
    o.finish();
    if (userIds === undefined || version === undefined || userIds.some((u) => u === undefined)) return undefined;
    const ids = userIds as string[];
    let ok = true;
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) {
        p.add(`${o.at("user_ids")}[${i}]`, `duplicate OpenPGP user ID ${q(id)}`);
        ok = false;
      }
    });
    return ok ? { userIds: ids, version } : undefined;
  });
  t.finish();

  if (keyType !== undefined) {
    const combo = SIGNING_COMBINATIONS[keyType];
    if (mechanisms !== undefined && mechanisms.every((m) => m !== undefined)) {
      const ms = mechanisms as KeyMechanism[];
      ms.forEach((m, i) => {
        if (ms.indexOf(m) !== i) problems.add(`${t.at("key_mechanisms")}[${i}]`, `duplicate key mechanism ${q(m)}`);
        else if (m !== combo.mechanism) {
          problems.add(`${t.at("key_mechanisms")}[${i}]`, `the key mechanism ${m} does not fit key type ${keyType} (use ${combo.mechanism})`);
        }
      });
    }
    if (signatureType !== undefined && signatureType !== combo.signature) {
      problems.add(t.at("signature_type"), `the signature type ${signatureType} does not fit key type ${keyType} (use ${combo.signature})`);
    }
    if (keyType === "Rsa") {
      if (keyLength === undefined && !t.has("key_length")) problems.add(t.at("key_length"), `RSA keys need key_length (at least ${MIN_RSA_BITS})`);
      else if (keyLength !== undefined && (keyLength < MIN_RSA_BITS || keyLength > MAX_RSA_BITS)) {
        problems.add(t.at("key_length"), `the RSA key length ${keyLength} is out of range (${MIN_RSA_BITS} to ${MAX_RSA_BITS})`);
      }
    } else if (t.has("key_length")) {
      problems.add(t.at("key_length"), `key_length must not be set for key type ${keyType}`);
    }
  }
  if (problems.list.length !== before || keyType === undefined || mechanisms === undefined || signatureType === undefined || context === undefined) {
    return undefined;
  }
  return {
    keyType,
    keyMechanisms: mechanisms as KeyMechanism[],
    signatureType,
    ...(keyType === "Rsa" ? { keyLength: keyLength! } : {}),
    openpgp: { userIds: context.userIds, version: context.version },
  };
};

// ---------------------------------------------------------------- throwing forms of the structured parsers

function throwing<T>(parse: Parser<T>, what: string): (raw: unknown) => T {
  return (raw) => {
    const problems = new Problems();
    const value = parse(raw, what, problems);
    if (value === undefined || !problems.empty) {
      throw new InvalidValue(problems.list.map(formatProblem).join("; ") || `${what}: invalid (${describe(raw)})`);
    }
    return value;
  };
}

export const keySetup = throwing(parseKeySetup, "key_setup");
export const tlsSecurity = throwing(tlsSecurityParser(), "tls_security");
export const adminSecretHandling = throwing(parseAdminSecretHandling, "admin_secret_handling");
export const tokenSelector = throwing(parseTokenSelector, "token");
export const pkcs11KeySelector = throwing(parseKeySelector, "key");

export { isTable, MAX_STRING };
