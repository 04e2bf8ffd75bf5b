/**
 * The log's key file: one line `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || Ed25519 seed)>` (the signer key format
 * of Go's golang.org/x/mod/sumdb/note, so other tools can read it), root-only (0600), created exclusively and
 * atomically, never overwritten. The verifier key derived from it is public.
 */
import { ExitCode, SignstarError } from "../errors.js";
import { randomBytes } from "node:crypto";
import { createFileExclusive } from "../os/fs.js";
import { readCheckedFile } from "../os/read-file.js";
import { LogError, LogFormatError } from "./errors.js";
import { checkKeyName, ed25519KeyId, ed25519NoteSigner, ed25519PublicFromSeed, parseVerifierKey, type NoteSigner } from "./note.js";

export const MAX_KEY_FILE_BYTES = 1024;

export interface LogKeyFileOptions {
  /** Owner of the file (default root). */
  readonly uid?: number;
  readonly gid?: number;
}

function keyLine(name: string, seed: Uint8Array): string {
  const id = Buffer.from(ed25519KeyId(name, ed25519PublicFromSeed(seed))).toString("hex");
  return `PRIVATE+KEY+${name}+${id}+${Buffer.from([0x01, ...seed]).toString("base64")}\n`;
}

/**
 * Creates a new key file for the log named `name` (its origin). Refuses (LogError) when the file exists: a log key
 * is never replaced behind the verifiers' backs. Returns the signer.
 */
export async function generateLogKeyFile(path: string, name: string, opts: LogKeyFileOptions = {}): Promise<NoteSigner> {
  checkKeyName(name);
  const seed = new Uint8Array(randomBytes(32));
  if (!(await createFileExclusive(path, keyLine(name, seed), opts.uid ?? 0, opts.gid ?? 0))) {
    throw new LogError(`log key file ${path} exists already; it is never overwritten`);
  }
  return ed25519NoteSigner(name, seed);
}

/**
 * Loads a key file: owner `uid` (default root), nobody but the owner may read it (0600 or 0400: a systemd
 * credential is 0400), a single link, at most 1 KiB.
 */
export async function loadLogKeyFile(path: string, opts: { readonly uid?: number } = {}): Promise<NoteSigner> {
  const { data } = await readCheckedFile(path, { what: "log key file", maxBytes: MAX_KEY_FILE_BYTES, owner: opts.uid ?? 0, clearBits: 0o177, singleLink: true, nonEmpty: true });
  try {
    return parseLogKey(data, `log key file ${path}`);
  } finally {
    data.fill(0);
  }
}

/**
 * Parses the key file's text (`what` names it in errors). For a key handed over on a descriptor, the way root
 * gives it to a writer started without systemd (`signstar-log-writer --key - < /var/lib/signstar/log.key`).
 */
export function parseLogKey(data: Uint8Array, what: string): NoteSigner {
  if (data.length > MAX_KEY_FILE_BYTES) throw new LogFormatError(`${what} is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  const m = /^PRIVATE\+KEY\+([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})\n?$/.exec(Buffer.from(data).toString("latin1"));
  if (!m) throw new LogFormatError(`${what} is not a PRIVATE+KEY line`);
  const raw = Buffer.from(m[3]!, "base64");
  if (raw.length !== 33 || raw[0] !== 0x01) throw new LogFormatError(`${what} does not hold an Ed25519 key`);
  const signer = ed25519NoteSigner(m[1]!, new Uint8Array(raw.subarray(1)));
  raw.fill(0);
  if (Buffer.from(signer.keyId).toString("hex") !== m[2]) throw new LogFormatError(`${what}: the key id does not match its key`);
  return signer;
}

/**
 * Reads the public verifier key file signstar-configure keeps next to the key (`log.vkey`: one line, root-owned,
 * not writable by others, at most 1 KiB) and checks it names `origin`. Returns the line without its newline.
 */
export async function readVerifierKeyFile(path: string, origin: string): Promise<string> {
  const { data } = await readCheckedFile(path, { what: "log verifier key file", maxBytes: MAX_KEY_FILE_BYTES, owner: 0, clearBits: 0o022, nonEmpty: true });
  const line = data.toString("utf8").replace(/\n$/, "");
  const verifier = parseVerifierKey(line);
  if (verifier.name !== origin) {
    throw new SignstarError(`the log verifier key in ${path} is for ${JSON.stringify(verifier.name)}, not the configured origin ${JSON.stringify(origin)}; run signstar-configure`, ExitCode.Config);
  }
  return line;
}
