import { createDecipheriv } from "node:crypto";

/** dec(U, "passphrase", lockedDomainKey), or undefined when the unlock passphrase is wrong. */
export function tryDecryptDomainKey(U: Uint8Array, locked: Uint8Array): Buffer | undefined {
  if (locked.length <= 28) return undefined;
  const d = createDecipheriv("aes-256-gcm", U, locked.subarray(0, 12));
  d.setAAD(Buffer.from("passphrase"));
  d.setAuthTag(locked.subarray(locked.length - 16));
  try {
    return Buffer.concat([d.update(locked.subarray(12, locked.length - 16)), d.final()]);
  } catch {
    return undefined;
  }
}
