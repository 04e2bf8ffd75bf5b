/** Passphrases for backend users: 30 characters from [A-Za-z0-9] (≈178 bits), as Signstar's Passphrase::generate. */
import { randomInt } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const PASSPHRASE_LENGTH = 30;

export function generatePassphrase(length: number = PASSPHRASE_LENGTH): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}
