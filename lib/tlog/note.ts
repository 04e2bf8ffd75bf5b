/**
 * C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys: a note is UTF-8 text ending in a newline,
 * a blank line, and signature lines `— <name> <base64(key id || signature)>`. The key id of an Ed25519 key is the
 * first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key); the verifier key is
 * `<name>+<key id as 8 hex digits>+<base64(0x01 || public key)>` (the format of Go's golang.org/x/mod/sumdb/note).
 */
import { createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import { LogFormatError, LogVerifyError } from "./errors.js";
import { sha256 } from "./merkle.js";

const ED25519_ALG = 0x01;
const MAX_NOTE_BYTES = 16 * 1024;
const MAX_SIGNATURES = 16;

/** Signs notes: a key file today, an HSM-held key can implement the same interface. */
export interface NoteSigner {
  /** The key name (for a log: its origin). */
  readonly name: string;
  readonly keyId: Uint8Array;
  /** `<name>+<hex id>+<base64 key>`, what a verifier needs. */
  readonly verifierKey: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A key name: non-empty, no whitespace, no `+` (signed-note). Bounded to 255 bytes. */
export function checkKeyName(name: string): void {
  if (name.length === 0 || name.length > 255 || /[\s+]/u.test(name) || !/^[\x21-\x7e]+$/.test(name)) {
    throw new LogFormatError(`not a valid note key name (printable ASCII, no spaces or '+', 1-255 characters): ${JSON.stringify(name.slice(0, 80))}`);
  }
}

export function ed25519KeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(new TextEncoder().encode(`${name}\n`), Uint8Array.of(ED25519_ALG), publicKey).subarray(0, 4);
}

const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function ed25519PublicFromSeed(seed: Uint8Array): Uint8Array {
  const pub = createPublicKey(ed25519PrivateKey(seed)).export({ format: "der", type: "spki" });
  return new Uint8Array(pub.subarray(SPKI_PREFIX.length));
}

function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new LogFormatError("an Ed25519 seed has 32 bytes");
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
}

function ed25519PublicKey(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: "der", type: "spki" });
}

export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  checkKeyName(name);
  return `${name}+${Buffer.from(ed25519KeyId(name, publicKey)).toString("hex")}+${Buffer.from([ED25519_ALG, ...publicKey]).toString("base64")}`;
}

/** A NoteSigner over an Ed25519 seed held in memory (from the log's key file). */
export function ed25519NoteSigner(name: string, seed: Uint8Array): NoteSigner {
  checkKeyName(name);
  const key = ed25519PrivateKey(seed);
  const pub = ed25519PublicFromSeed(seed);
  return {
    name,
    keyId: ed25519KeyId(name, pub),
    verifierKey: formatVerifierKey(name, pub),
    sign: async (message) => new Uint8Array(edSign(null, message, key)),
  };
}

/** Parses a verifier key line strictly (name, matching key id, Ed25519 key of 32 bytes). */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})$/.exec(vkey.trim());
  if (!m) throw new LogFormatError("not a verifier key (<name>+<8 hex digits>+<base64 key>)");
  const name = m[1]!;
  checkKeyName(name);
  const raw = Buffer.from(m[3]!, "base64");
  if (raw.length !== 33 || raw[0] !== ED25519_ALG || raw.toString("base64") !== m[3]) throw new LogFormatError("verifier key: not a canonical Ed25519 key");
  const pub = new Uint8Array(raw.subarray(1));
  const keyId = ed25519KeyId(name, pub);
  if (Buffer.from(keyId).toString("hex") !== m[2]) throw new LogFormatError("verifier key: the key id does not match the name and key");
  const key = ed25519PublicKey(pub);
  return { name, keyId, verify: (message, signature) => signature.length === 64 && edVerify(null, message, key, signature) };
}

/** Signs `text` (which must end in a newline) and returns the note with its one signature line. */
export async function signNote(text: string, signer: NoteSigner): Promise<Uint8Array> {
  if (!text.endsWith("\n") || text.includes("\n\n")) throw new LogFormatError("note text must end in a newline and have no blank line");
  const body = new TextEncoder().encode(text);
  const sig = await signer.sign(body);
  const line = `\u2014 ${signer.name} ${Buffer.concat([signer.keyId, sig]).toString("base64")}\n`;
  return new TextEncoder().encode(`${text}\n${line}`);
}

/**
 * Opens a signed note: returns its text if a signature by `verifier` (matching name and key id) verifies.
 * Signatures by other keys are ignored (signed-note allows co-signatures); a bad signature by our key, a
 * malformed note or one above 16 KiB is refused.
 */
export function openNote(note: Uint8Array, verifier: NoteVerifier): string {
  if (note.length > MAX_NOTE_BYTES) throw new LogVerifyError(`signed note of ${note.length} bytes exceeds ${MAX_NOTE_BYTES}`);
  let s: string;
  try {
    s = new TextDecoder("utf-8", { fatal: true }).decode(note);
  } catch {
    throw new LogVerifyError("signed note is not UTF-8");
  }
  const split = s.lastIndexOf("\n\n");
  if (split < 0 || !s.endsWith("\n")) throw new LogVerifyError("signed note has no signature block");
  const text = s.slice(0, split + 1);
  const lines = s.slice(split + 2, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new LogVerifyError("signed note has too many signatures");
  const body = new TextEncoder().encode(text);
  let ours = false;
  for (const line of lines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/u.exec(line);
    if (!m) throw new LogVerifyError("signed note has a malformed signature line");
    const blob = Buffer.from(m[2]!, "base64");
    if (blob.length < 5) throw new LogVerifyError("signed note has a malformed signature line");
    if (m[1] !== verifier.name || !blob.subarray(0, 4).equals(verifier.keyId)) continue;
    if (!verifier.verify(body, new Uint8Array(blob.subarray(4)))) throw new LogVerifyError(`the signature of ${verifier.name} on the note does not verify`);
    ours = true;
  }
  if (!ours) throw new LogVerifyError(`the note is not signed by ${verifier.name} with key id ${Buffer.from(verifier.keyId).toString("hex")}`);
  return text;
}
