/**
 * The display name of a signing key, identical to the `key=` field of signstar-download-signature's audit
 * entries, so host counters, audit log and metrics name keys the same way.
 */
import type { SigningMapping } from "../config/mappings.js";

export function signingKeyLabel(m: SigningMapping): string {
  if (m.backend === "nethsm") return `nethsm:${m.mapping.signingKeyId}`;
  const key = "label" in m.mapping.key ? `label=${m.mapping.key.label}` : `id=${m.mapping.key.id}`;
  const token = "label" in m.mapping.token ? `label=${m.mapping.token.label}` : `serial=${m.mapping.token.serial}`;
  return `pkcs11:token(${token}):key(${key})`;
}
