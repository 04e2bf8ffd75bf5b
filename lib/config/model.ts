/**
 * The typed configuration model (native layout: `[system]`, `[nethsm]`, `[pkcs11]`).
 * Values of these types only come out of the parse-don't-validate constructors in ./primitives.ts and the
 * loader in ./load.ts, so code that holds a `Config` may trust every field.
 */

declare const brand: unique symbol;
/** A string (or value) that passed a constructor's checks. */
export type Branded<T, B extends string> = T & { readonly [brand]: B };

/** Unix user name: non-empty, `[A-Za-z0-9_-]`. */
export type SystemUserId = Branded<string, "SystemUserId">;
/** NetHSM user id: system-wide `[a-z0-9]+` or namespaced `ns~name`. */
export type NetHsmUserId = Branded<string, "NetHsmUserId">;
/** NetHSM namespace id: `[a-z0-9]+`. */
export type NamespaceId = Branded<string, "NamespaceId">;
/** NetHSM key id: `[a-z0-9]+`. */
export type KeyId = Branded<string, "KeyId">;
/** NetHSM tag (free text, non-empty). */
export type Tag = Branded<string, "Tag">;
/** Normalised https URL without credentials or query. */
export type HttpsUrl = Branded<string, "HttpsUrl">;

/** One parsed OpenSSH authorized_keys line. */
export interface AuthorizedKey {
  /** The line as written in the config. */
  readonly line: string;
  /** Options before the key type, verbatim (may be empty). */
  readonly options: string;
  /** e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, `sk-ssh-ed25519@openssh.com`. */
  readonly keyType: string;
  /** The base64 blob, whose embedded type string equals keyType. */
  readonly blob: string;
  readonly comment: string;
}

export type SecretHandling = "plaintext" | "systemd-creds";
export type AdminSecretHandling =
  | { readonly kind: "plaintext" }
  | { readonly kind: "systemd-creds" }
  | { readonly kind: "shamirs-secret-sharing"; readonly numberOfShares: number; readonly threshold: number };

export type KeyType = "Curve25519" | "EcP256" | "EcP384" | "EcP521" | "Rsa";
export type KeyMechanism = "EdDsaSignature" | "EcdsaSignature" | "RsaSignaturePkcs1";
export type SignatureType = "EdDsa" | "EcdsaP256" | "EcdsaP384" | "EcdsaP521" | "Pkcs1";

/** A signing key setup; only valid OpenPGP v4 combinations exist as values of this type. */
export interface KeySetup {
  readonly keyType: KeyType;
  readonly keyMechanisms: readonly KeyMechanism[];
  readonly signatureType: SignatureType;
  /** RSA only, ≥ 2048. */
  readonly keyLength?: number;
  readonly openpgp: { readonly userIds: readonly string[]; readonly version: 4 };
}

export type TlsSecurity =
  | { readonly kind: "Unsafe" }
  | { readonly kind: "Native" }
  /** Lowercase hex SHA-256 fingerprints of accepted server certificates (DER). */
  | { readonly kind: "Fingerprints"; readonly sha256: readonly string[] };

export interface NetHsmConnection {
  readonly url: HttpsUrl;
  readonly tlsSecurity: TlsSecurity;
}

/** A mapping that gives a Unix user SSH access with one authorized key. */
export interface SshAccess {
  readonly systemUser: SystemUserId;
  readonly sshAuthorizedKey: AuthorizedKey;
}

export type SystemMapping =
  | ({ readonly kind: "share_holder" } & SshAccess)
  | ({ readonly kind: "wire_guard_download" } & SshAccess)
  /**
   * Reads the signing log (docs/tlog.md) one file per SSH call: the checkpoint, a tile or an entry bundle; needs
   * `signing_log`. A native extension (Signstar has no signing log).
   */
  | ({ readonly kind: "log_reader" } & SshAccess);

export interface MetricsBackendUsers {
  readonly metricsUser: NetHsmUserId;
  readonly operatorUsers: readonly NetHsmUserId[];
}

export type NetHsmMapping =
  | { readonly kind: "admin"; readonly backendUser: NetHsmUserId }
  | ({ readonly kind: "backup"; readonly backendUser: NetHsmUserId } & SshAccess)
  | ({ readonly kind: "metrics"; readonly backendUsers: MetricsBackendUsers } & SshAccess)
  | { readonly kind: "hermetic_metrics"; readonly systemUser: SystemUserId; readonly backendUsers: MetricsBackendUsers }
  | ({
      readonly kind: "signing";
      readonly backendUser: NetHsmUserId;
      readonly signingKeyId: KeyId;
      readonly keySetup: KeySetup;
      readonly tag: Tag;
    } & SshAccess)
  /** Uploads NetHSM backups (stdin) for signstar-configure to restore; holds no backend credentials. */
  | ({ readonly kind: "backup_upload" } & SshAccess)
  /** Uploads NetHSM update images (stdin) for signstar-configure to apply; holds no backend credentials. */
  | ({ readonly kind: "update_upload" } & SshAccess)
  /**
   * Downloads the OpenPGP certificates of all signing keys (NetHSM and PKCS#11). NetHSM certificates are read
   * with these untagged Operator users (one per namespace holding signing keys: system-wide `name`, `ns~name`).
   */
  | ({ readonly kind: "key_certificates"; readonly backendUsers: readonly NetHsmUserId[] } & SshAccess);

/** How a PKCS#11 token is found in the module's slot list. */
export type TokenSelector = { readonly label: string } | { readonly serial: string };
/** How a key is found on a token: CKA_LABEL or CKA_ID (lowercase hex). */
export type Pkcs11KeySelector = { readonly label: string } | { readonly id: string };

export type Pkcs11Mapping =
  /** The token's Security Officer: its SO PIN is part of the admin secret. */
  | { readonly kind: "admin"; readonly token: TokenSelector }
  | ({
      readonly kind: "signing";
      readonly token: TokenSelector;
      readonly key: Pkcs11KeySelector;
      readonly keySetup: KeySetup;
    } & SshAccess)
  /**
   * Downloads the OpenPGP certificates of all signing keys; for hosts without NetHSM signing keys (PKCS#11
   * certificates and public keys are public token objects, read without a PIN).
   */
  | ({ readonly kind: "key_certificates" } & SshAccess)
  /**
   * Downloads the host's metrics without NetHSM credentials: signatures per user and key (ok, error), the tokens'
   * public facts, share and signing-log figures. For hosts without a NetHSM (a NetHSM metrics mapping reports
   * the same host figures plus the device's).
   */
  | ({ readonly kind: "metrics" } & SshAccess);

export interface Pkcs11Section {
  /** Absolute path of the PKCS#11 module (.so). */
  readonly module: string;
  readonly mappings: readonly Pkcs11Mapping[];
}

export interface NetHsmSection {
  readonly connections: readonly NetHsmConnection[];
  readonly mappings: readonly NetHsmMapping[];
}

/** A signing log origin (C2SP tlog-checkpoint; also the log key's name): printable ASCII, no spaces or '+'. */
export type LogOrigin = Branded<string, "LogOrigin">;

/** The signing log writer's system user (systemd/signstar-log-writer.service names it too). */
export const LOG_WRITER_USER = "signstar-log";

/** The log key's label on its PKCS#11 token (`signing_log.pkcs11_token`). */
export const LOG_KEY_LABEL = "signstar-log";
/** Ed25519, the only key type of a C2SP signed note (https://c2sp.org/signed-note): the log key on a token or NetHSM. */
export const LOG_KEY_SETUP: KeySetup = { keyType: "Curve25519", keyMechanisms: ["EdDsaSignature"], signatureType: "EdDsa", openpgp: { userIds: [], version: 4 } };

/**
 * Where the log key lives (docs/tlog.md, "Where the log key lives"):
 * - `file`: a root-only key file made by signstar-configure, handed to the writer by systemd (LoadCredential);
 * - `pkcs11` (`pkcs11_token = "<label>"`): a PKCS#11 token of `[pkcs11]`'s module dedicated to the log key. No
 *   signing mapping may use that token: its user PIN is all that stands between a user who knows it and forged
 *   checkpoints;
 * - `nethsm` (`nethsm_user = "<id>"`, `nethsm_key = "<id>"`): a key of the NetHSM of `[nethsm]`, tagged with its
 *   own id, and an Operator user carrying that tag alone, whose passphrase only the writer's user gets. No other
 *   configured NetHSM user, key or tag may have those ids (the NetHSM lets an Operator sign with a tagged key only
 *   when their tags meet).
 */
export type LogKeyPlace =
  | { readonly kind: "file" }
  | { readonly kind: "pkcs11"; readonly token: string }
  | { readonly kind: "nethsm"; readonly user: NetHsmUserId; readonly keyId: KeyId };

/** The log key on a backend, for messages: `key label:signstar-log on token "x"`, `NetHSM key x`. */
export function logKeyName(place: Exclude<LogKeyPlace, { kind: "file" }>): string {
  return place.kind === "pkcs11" ? `key label:${LOG_KEY_LABEL} on token ${JSON.stringify(place.token)}` : `NetHSM key ${place.keyId}`;
}

/**
 * `signing_log = { origin = "…" }`: every signature is appended to the verifiable signing log (docs/tlog.md)
 * before it is returned; signing fails closed when its entry cannot be made durable.
 */
export interface SigningLogSetup {
  readonly origin: LogOrigin;
  readonly key: LogKeyPlace;
}

export interface SystemSection {
  readonly iteration: number;
  readonly adminSecretHandling: AdminSecretHandling;
  readonly nonAdminSecretHandling: SecretHandling;
  readonly mappings: readonly SystemMapping[];
  /** Absent: no signing log. */
  readonly signingLog?: SigningLogSetup;
  /**
   * `audit_log`: "required" (default) refuses a run whose audit entry the system log did not take (exit 10);
   * "best-effort" serves it anyway (hosts without a system log, by explicit choice).
   */
  readonly auditLog?: AuditLogPolicy;
  /** `signing_concurrency` (1..1024; absent: 4): a signing user's requests handled at once (./primitives.ts SIGNING_LIMITS). */
  readonly signingConcurrency?: number;
  /** `signing_queue` (0..1024; absent: 16): a signing user's requests waiting beyond those; more are refused (Busy). */
  readonly signingQueue?: number;
}

export type AuditLogPolicy = "required" | "best-effort";

export interface Config {
  readonly system: SystemSection;
  readonly nethsm?: NetHsmSection;
  readonly pkcs11?: Pkcs11Section;
}

/** The role a Unix user has on the host; decides its ForceCommand. */
export type Role =
  | "signing"
  | "backup"
  | "metrics"
  | "hermetic_metrics"
  | "share_holder"
  | "wire_guard_download"
  | "backup_upload"
  | "update_upload"
  | "key_certificates"
  | "log_reader";

/** One Unix user of the host with everything the host tools need to serve it. */
export type UserMapping =
  | { readonly backend: "system"; readonly mapping: SystemMapping }
  | { readonly backend: "nethsm"; readonly mapping: Exclude<NetHsmMapping, { kind: "admin" }> }
  | { readonly backend: "pkcs11"; readonly mapping: Exclude<Pkcs11Mapping, { kind: "admin" }> };

/** Name of the PKCS#11 "backend user" for secret file names: the token user of the selected token. */
export function pkcs11BackendUser(token: TokenSelector): string {
  return "label" in token ? `pkcs11-token-label-${token.label}` : `pkcs11-token-serial-${token.serial}`;
}
