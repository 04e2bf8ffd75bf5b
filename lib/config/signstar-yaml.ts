/**
 * Signstar's V4 configuration (`config.yaml`, archlinux/signstar main since 2026-01: `signstar-config/src/config/file/mod.rs`
 * `Config`, `signstar-config/src/config/system.rs` `SystemConfig`, `signstar-config/src/nethsm/config.rs` `NetHsmConfig`)
 * read into the native model. V4 has the structure of the native layout (`system`, `nethsm`, the same mapping
 * kinds and field names), so it is read by the native reader in a dialect that allows only what V4 has:
 *
 * - exactly Signstar's format: sections `system` and `nethsm`; `yubihsm2` (Signstar's YubiHSM2 backend) is refused
 *   with one line; every native extension (NATIVE_EXTENSIONS in lib/config/native.ts: `pkcs11`, the `system` keys
 *   signing_log, audit_log, signing_concurrency, signing_queue, the mapping kinds log_reader, backup_upload,
 *   update_upload, key_certificates) is refused with one line each that points at the native TOML layout, since
 *   Signstar's own reader would refuse the file and the YAML must stay a file Signstar reads;
 * - `tls_security: {Fingerprints: {sha256: [...]}}` spelled as Signstar's serde spells it;
 * - `shamirs-secret-sharing: {number_of_shares, threshold}` with Signstar's bounds (`NonZeroUsize` each, no rule
 *   between them); the native rules (both at least 2, threshold at most number_of_shares) are listed after
 *   Signstar's problems.
 *
 * Defaults: Signstar's serde gives `system.mappings` a default (empty); the other fields have none, and none are
 * invented here (`SystemConfig`'s `Default` impl is not used by serde for missing fields). An absent
 * `nethsm.connections` or `nethsm.mappings` reads as empty and is then refused as Signstar refuses empty ones.
 */
import type { AdminSecretHandling } from "./model.js";
import { readNative, type Dialect } from "./native.js";
import { assemble, type ConfigParts } from "./parts.js";
import { MAX_SHARES } from "./primitives.js";
import { Problems, type Problem } from "./problems.js";
import { TableReader, int, isTable, variant, type Parser } from "./reader.js";
import type { Conversion } from "./signstar.js";
import { validateParts } from "./validate.js";

const q = JSON.stringify;

/** The one line for a `yubihsm2` section. */
export const YUBIHSM2_UNSUPPORTED =
  "Signstar's YubiHSM2 backend (yubihsm2) is not supported here; supported backends: nethsm (NetHSM) in YAML or TOML, pkcs11 (PKCS#11 tokens) in the native TOML layout";

/** `plaintext | systemd-creds | {shamirs-secret-sharing: {number_of_shares, threshold}}` with Signstar's bounds. */
const signstarAdminSecretHandling: Parser<AdminSecretHandling> = (v, loc, problems) => {
  if (typeof v === "string") {
    if (v === "plaintext" || v === "systemd-creds") return { kind: v };
    problems.add(
      loc,
      v === "shamirs-secret-sharing"
        ? "write shamirs-secret-sharing: {number_of_shares: N, threshold: T} to use Shamir's Secret Sharing"
        : `unknown secret handling ${q(v)} (use plaintext, systemd-creds or shamirs-secret-sharing: {…})`,
    );
    return undefined;
  }
  const tagged = variant(v, loc, problems, ["shamirs-secret-sharing"] as const);
  if (tagged === undefined) return undefined;
  const t = TableReader.open(tagged.value, tagged.location, problems);
  if (t === undefined) return undefined;
  const numberOfShares = t.required("number_of_shares", int(1, MAX_SHARES));
  const threshold = t.required("threshold", int(1, MAX_SHARES));
  t.finish();
  if (numberOfShares === undefined || threshold === undefined) return undefined;
  return { kind: "shamirs-secret-sharing", numberOfShares, threshold };
};

export const SIGNSTAR_V4_DIALECT: Dialect = {
  extensions: false,
  fingerprintsKey: "Fingerprints",
  adminSecretHandling: signstarAdminSecretHandling,
  lacks: (what) =>
    `${what} is an extension of this project's native TOML layout, not part of Signstar's YAML; write the configuration in the native layout (signstar-config convert prints it)`,
};

/** The native SSS rules Signstar lacks (it accepts threshold 1 and a threshold above the number of shares). */
function nativeSssProblems(parts: ConfigParts): Problem[] {
  const a = parts.system?.adminSecretHandling;
  if (a?.kind !== "shamirs-secret-sharing") return [];
  const p = new Problems();
  const at = "system.admin_secret_handling.shamirs-secret-sharing";
  if (a.numberOfShares < 2) p.add(`${at}.number_of_shares`, `${a.numberOfShares} share cannot be split; use at least 2 (Signstar allows 1, this project does not)`);
  if (a.threshold < 2) p.add(`${at}.threshold`, `a threshold of ${a.threshold} lets one shareholder alone unlock the secret; use at least 2`);
  if (a.threshold > a.numberOfShares) p.add(`${at}.threshold`, `the threshold ${a.threshold} is larger than number_of_shares ${a.numberOfShares}`);
  return p.list;
}

/**
 * Reads a parsed V4 document. `rejected` lists every problem, Signstar's first (what Signstar itself would
 * refuse), then the native rules; a Conversion carries problems only for native rules Signstar lacks.
 */
export function convertSignstarYaml(root: unknown): { rejected: readonly Problem[] } | Conversion {
  if (isTable(root) && Object.hasOwn(root, "yubihsm2")) return { rejected: [{ location: "yubihsm2", message: YUBIHSM2_UNSUPPORTED }] };
  const p = new Problems();
  const parts = readNative(root, p, SIGNSTAR_V4_DIALECT);
  const signstar = [...p.list, ...validateParts(parts)];
  const native = nativeSssProblems(parts);
  const config = signstar.length === 0 ? assemble(parts) : undefined;
  if (config === undefined) {
    const all = [...signstar, ...native];
    return { rejected: all.length > 0 ? all : [{ location: "(file)", message: "incomplete configuration" }] };
  }
  return { config, problems: native };
}
