/**
 * The native TOML of a PKCS#11 test host, as an operator writes it: plaintext secrets, `[pkcs11]` with an admin
 * mapping per token, the signing users and optional key-certificates/metrics users, and optionally the signing log
 * and `[system]` mappings. The tests that run the production commands on such a host differ only in these parts.
 */
import { KEY_SETUPS, type SignerKind } from "./signing-host.js";

/** A Unix user reached over SSH: its name and its public key (an authorized_keys line). */
export interface ConfigUser {
  readonly user: string;
  readonly publicKey: string;
}

export interface ConfigSigner extends ConfigUser {
  /** The token's label (it needs one of `tokens`). */
  readonly token: string;
  /** The key's CKA_LABEL. */
  readonly key: string;
  /** The key setup (default ed25519). */
  readonly kind?: SignerKind;
  /** The OpenPGP user ID of its certificate. */
  readonly userId: string;
}

export interface SoftHsmConfigSpec {
  /** `[pkcs11] module` (default Debian's SoftHSMv2). */
  readonly module?: string;
  /** Token labels, one admin mapping (SO PIN) each, in this order. */
  readonly tokens: readonly string[];
  readonly signers: readonly ConfigSigner[];
  readonly keyCertificates?: ConfigUser;
  readonly metrics?: ConfigUser;
  /** `[system] signing_log`: its origin, and the token that holds the log key (else a root-only key file). */
  readonly signingLog?: { readonly origin: string; readonly pkcs11Token?: string };
  /** `[[system.mappings]]`, e.g. `{ kind: "log_reader", user, publicKey }`. */
  readonly systemMappings?: readonly (ConfigUser & { readonly kind: "share_holder" | "wire_guard_download" | "log_reader" })[];
}

export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

const q = JSON.stringify;
const access = (u: ConfigUser): string => `system_user = ${q(u.user)}, ssh_authorized_key = ${q(u.publicKey)}`;
const mapping = (section: string, line: string): string[] => [`[[${section}.mappings]]`, line, ""];

export function softHsmConfig(spec: SoftHsmConfigSpec): string {
  const log = spec.signingLog;
  return [
    "[system]",
    "iteration = 1",
    'admin_secret_handling = "plaintext"',
    'non_admin_secret_handling = "plaintext"',
    ...(log === undefined ? [] : [`signing_log = { origin = ${q(log.origin)}${log.pkcs11Token === undefined ? "" : `, pkcs11_token = ${q(log.pkcs11Token)}`} }`]),
    "",
    ...(spec.systemMappings ?? []).flatMap((m) => mapping("system", `${m.kind} = { ${access(m)} }`)),
    "[pkcs11]",
    `module = ${q(spec.module ?? SOFTHSM_MODULE)}`,
    "",
    ...spec.tokens.flatMap((label) => mapping("pkcs11", `admin = { token = { label = ${q(label)} } }`)),
    ...spec.signers.flatMap((s) =>
      mapping(
        "pkcs11",
        `signing = { ${access(s)}, token = { label = ${q(s.token)} }, key = { label = ${q(s.key)} }, ` +
          `key_setup = ${KEY_SETUPS[s.kind ?? "ed25519"]}, key_context = { openpgp = { user_ids = [${q(s.userId)}], version = "4" } } } }`,
      ),
    ),
    ...(spec.keyCertificates === undefined ? [] : mapping("pkcs11", `key_certificates = { ${access(spec.keyCertificates)} }`)),
    ...(spec.metrics === undefined ? [] : mapping("pkcs11", `metrics = { ${access(spec.metrics)} }`)),
  ].join("\n");
}
