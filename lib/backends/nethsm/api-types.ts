/** Types of the NetHSM REST API v1 (`docs/nethsm-api.yaml`, Nitrokey/nethsm 4e192fb9), as this client uses them. */

export type SystemState = "Unprovisioned" | "Locked" | "Operational" | "Failed";
export type UserRole = "Administrator" | "Operator" | "Metrics" | "Backup";
export type NetHsmKeyType =
  | "RSA"
  | "Curve25519"
  | "EC_P256"
  | "EC_P384"
  | "EC_P521"
  | "EC_P256K1"
  | "BrainpoolP256"
  | "BrainpoolP384"
  | "BrainpoolP512"
  | "Generic";
export type NetHsmMechanism =
  | "RSA_Decryption_RAW"
  | "RSA_Decryption_PKCS1"
  | "RSA_Decryption_OAEP_MD5"
  | "RSA_Decryption_OAEP_SHA1"
  | "RSA_Decryption_OAEP_SHA224"
  | "RSA_Decryption_OAEP_SHA256"
  | "RSA_Decryption_OAEP_SHA384"
  | "RSA_Decryption_OAEP_SHA512"
  | "RSA_Signature_PKCS1"
  | "RSA_Signature_PSS_MD5"
  | "RSA_Signature_PSS_SHA1"
  | "RSA_Signature_PSS_SHA224"
  | "RSA_Signature_PSS_SHA256"
  | "RSA_Signature_PSS_SHA384"
  | "RSA_Signature_PSS_SHA512"
  | "EdDSA_Signature"
  | "ECDSA_Signature"
  | "BIP340_Signature"
  | "AES_Encryption_CBC"
  | "AES_Decryption_CBC";
export type SignMode = "PKCS1" | "PSS_MD5" | "PSS_SHA1" | "PSS_SHA224" | "PSS_SHA256" | "PSS_SHA384" | "PSS_SHA512" | "EdDSA" | "ECDSA" | "BIP340";

export const KEY_TYPES: readonly NetHsmKeyType[] = [
  "RSA", "Curve25519", "EC_P256", "EC_P384", "EC_P521", "EC_P256K1", "BrainpoolP256", "BrainpoolP384", "BrainpoolP512", "Generic",
];
export const MECHANISMS: readonly NetHsmMechanism[] = [
  "RSA_Decryption_RAW", "RSA_Decryption_PKCS1", "RSA_Decryption_OAEP_MD5", "RSA_Decryption_OAEP_SHA1",
  "RSA_Decryption_OAEP_SHA224", "RSA_Decryption_OAEP_SHA256", "RSA_Decryption_OAEP_SHA384", "RSA_Decryption_OAEP_SHA512",
  "RSA_Signature_PKCS1", "RSA_Signature_PSS_MD5", "RSA_Signature_PSS_SHA1", "RSA_Signature_PSS_SHA224",
  "RSA_Signature_PSS_SHA256", "RSA_Signature_PSS_SHA384", "RSA_Signature_PSS_SHA512", "EdDSA_Signature",
  "ECDSA_Signature", "BIP340_Signature", "AES_Encryption_CBC", "AES_Decryption_CBC",
];

export interface KeyPublicData {
  readonly modulus?: string;
  readonly publicExponent?: string;
  readonly data?: string;
}

/** GET /keys/{id}. */
export interface KeyDetails {
  readonly mechanisms: readonly NetHsmMechanism[];
  readonly type: NetHsmKeyType;
  readonly restrictions: { readonly tags?: readonly string[] };
  /** null for Generic keys (code; the spec has no null). */
  readonly public?: KeyPublicData | null;
  readonly operations: number;
  readonly label?: string;
}

export interface UserData {
  readonly realName: string;
  readonly role: UserRole;
}

export interface SystemInfo {
  readonly softwareVersion: string;
  readonly softwareBuild: string;
  readonly firmwareVersion: string;
  readonly hardwareVersion: string;
  readonly deviceId: string;
  readonly akPub: Readonly<Record<string, string>>;
  readonly pcr: Readonly<Record<string, string>>;
}

export interface KeyGenerateRequest {
  readonly type: NetHsmKeyType;
  readonly mechanisms: readonly NetHsmMechanism[];
  readonly length?: number;
  readonly id?: string;
  readonly tags?: readonly string[];
  readonly label?: string;
}

/** Private key material for JSON import (big-endian, raw bytes). */
export type PrivateKeyImport =
  | { readonly type: "RSA"; readonly primeP: Uint8Array; readonly primeQ: Uint8Array; readonly publicExponent: Uint8Array }
  | { readonly type: Exclude<NetHsmKeyType, "RSA">; readonly data: Uint8Array };

export interface KeyImportRequest {
  readonly mechanisms: readonly NetHsmMechanism[];
  readonly key: PrivateKeyImport;
  readonly tags?: readonly string[];
  readonly label?: string;
}

/** GET /metrics: a flat object; the device sends string values (keyfender's Metrics.retrieve, `src/keyfender/hsm.ml`, Nitrokey/nethsm 4e192fb9). */
export type Metrics = Readonly<Record<string, string | number>>;
