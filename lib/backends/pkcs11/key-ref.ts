/** Key references: `label:<label>` or `id:<lowercase hex>` (the display form of Pkcs11KeySelector). */
import type { Pkcs11KeySelector } from "../../config/model.js";
import { Pkcs11UsageError } from "./errors.js";

const MAX_LABEL_BYTES = 128;
const MAX_ID_BYTES = 64;

export function keyRefOf(sel: Pkcs11KeySelector): string {
  return "label" in sel ? `label:${sel.label}` : `id:${sel.id}`;
}

/** Parses `label:x` / `id:hex`; throws Pkcs11UsageError naming the ref. */
export function parseKeyRef(ref: string): Pkcs11KeySelector {
  if (ref.startsWith("label:")) {
    const label = ref.slice("label:".length);
    checkLabel(label);
    return { label };
  }
  if (ref.startsWith("id:")) {
    const id = ref.slice("id:".length);
    checkId(id);
    return { id };
  }
  throw new Pkcs11UsageError(`PKCS#11 key reference "${ref.slice(0, 80)}" is neither label:<label> nor id:<hex>`);
}

export function checkLabel(label: string): void {
  if (label.length === 0 || Buffer.byteLength(label) > MAX_LABEL_BYTES || /[\0-\x1f\x7f]/.test(label)) {
    throw new Pkcs11UsageError(`PKCS#11 key label "${label.slice(0, 80)}" must be 1–${MAX_LABEL_BYTES} bytes without control characters`);
  }
}

export function checkId(id: string): void {
  if (!/^(?:[0-9a-f]{2})+$/.test(id) || id.length > 2 * MAX_ID_BYTES) {
    throw new Pkcs11UsageError(`PKCS#11 key id "${id.slice(0, 80)}" must be 1–${MAX_ID_BYTES} bytes of lowercase hex`);
  }
}

/** Validates a selector coming from elsewhere (config values are already checked, but the API is public). */
export function checkSelector(sel: Pkcs11KeySelector): void {
  if ("label" in sel) checkLabel(sel.label);
  else checkId(sel.id);
}
