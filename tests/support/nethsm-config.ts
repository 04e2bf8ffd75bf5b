/**
 * The native TOML of a NetHSM test host with the signing log's key on the NetHSM, as an operator writes it:
 * plaintext secrets, `signing_log = { origin, nethsm_user, nethsm_key }`, one connection pinned by its certificate's
 * SHA-256 fingerprint, the administrator `admin`, and signing users with an Operator, key and tag each. The
 * production tests of the NetHSM log key (with and without a booted systemd) differ only in these parts.
 */
import type { ConfigUser } from "./softhsm-config.js";
import { KEY_SETUPS, type SignerKind } from "./signing-host.js";

export interface NetHsmConfigSigner extends ConfigUser {
  /** Its Operator's user id; its key id and tag are `<operator>key`. */
  readonly operator: string;
  /** The key setup (default ed25519). */
  readonly kind?: SignerKind;
  /** The OpenPGP user ID of its certificate. */
  readonly userId: string;
}

export interface NetHsmLogConfigSpec {
  /** The NetHSM's API URL (`https://…/api/v1`) and the SHA-256 fingerprint of its TLS certificate (hex). */
  readonly url: string;
  readonly fingerprint: string;
  readonly signingLog: { readonly origin: string; readonly nethsmUser: string; readonly nethsmKey: string };
  readonly signers: readonly NetHsmConfigSigner[];
  /** Optional: the backup mapping (configure then writes an encrypted backup after each run) and its NetHSM user. */
  readonly backup?: ConfigUser & { readonly backendUser: string };
  /** Optional: the backup_upload mapping (signstar-upload-backup over SSH; configure restores the upload). */
  readonly backupUpload?: ConfigUser;
}

export function netHsmLogConfig(spec: NetHsmLogConfigSpec): string {
  const { origin, nethsmUser, nethsmKey } = spec.signingLog;
  return [
    "[system]",
    "iteration = 1",
    'admin_secret_handling = "plaintext"',
    'non_admin_secret_handling = "plaintext"',
    `signing_log = { origin = "${origin}", nethsm_user = "${nethsmUser}", nethsm_key = "${nethsmKey}" }`,
    "",
    "[nethsm]",
    `connections = [{ url = "${spec.url}", tls_security = { fingerprints = { sha256 = ["${spec.fingerprint}"] } } }]`,
    "",
    "[[nethsm.mappings]]",
    'admin = "admin"',
    ...(spec.backup === undefined
      ? []
      : ["", "[[nethsm.mappings]]", `backup = { backend_user = "${spec.backup.backendUser}", system_user = "${spec.backup.user}", ssh_authorized_key = "${spec.backup.publicKey}" }`]),
    ...(spec.backupUpload === undefined
      ? []
      : ["", "[[nethsm.mappings]]", `backup_upload = { system_user = "${spec.backupUpload.user}", ssh_authorized_key = "${spec.backupUpload.publicKey}" }`]),
    ...spec.signers.flatMap((s) => [
      "",
      "[[nethsm.mappings]]",
      "[nethsm.mappings.signing]",
      `system_user = "${s.user}"`,
      `ssh_authorized_key = "${s.publicKey}"`,
      `backend_user = "${s.operator}"`,
      `signing_key_id = "${s.operator}key"`,
      `tag = "${s.operator}key"`,
      `key_setup = ${KEY_SETUPS[s.kind ?? "ed25519"]}, key_context = { openpgp = { user_ids = ["${s.userId}"], version = "4" } } }`,
    ]),
    "",
  ].join("\n");
}
