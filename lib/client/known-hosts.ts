/**
 * OpenSSH `known_hosts` parsing and host key verdicts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").
 *
 * Line format: `[@marker] hostnames keytype base64-key [comment]`; blank lines and `#` comments are ignored.
 *
 * Host names, as OpenSSH matches them:
 * - The name looked up is `host` for port 22 and `[host]:port` otherwise, lower-cased. For port 22 we also accept
 *   `[host]:22` (OpenSSH ignores such a line; Signstar's client and its tests accept it, and it cannot mean anything
 *   else than host on port 22).
 * - Plain field: comma-separated patterns with `*` (any run of characters) and `?` (one character), matched against
 *   the whole name case-insensitively; a pattern starting with `!` negates: if a negated pattern matches, the line
 *   does not apply, whatever the other patterns say.
 * - Hashed field `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` (salt and MAC 20 bytes each, `ssh-keygen -H`).
 *   OpenSSH hashes the same name it would look up, so a non-22 port is hashed as `[host]:port`.
 *
 * Markers:
 * - `@revoked`: if a revoked line applies to the host and carries the presented key, the key is rejected, even when
 *   another line trusts it. As in OpenSSH, the host patterns of a revoked line are honoured (use `*` to revoke
 *   a key for every host).
 * - `@cert-authority`: never trusted as a host key (we do not accept host certificates); such lines are ignored.
 * - Any other marker: the line is skipped (as OpenSSH does).
 *
 * Malformed lines are skipped (OpenSSH does the same) and reported in `skipped`, so callers can mention them.
 * The key type of a line must equal the type inside its key blob, otherwise the line is malformed.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { readCheckedFile } from "../os/read-file.js";
import { clientFileError, type UntrustedHostKey } from "./errors.js";

export type HostKeyVerdict = "trusted" | UntrustedHostKey;
export type KnownHostMarker = "revoked" | "cert-authority";

export interface HostPattern {
  readonly negated: boolean;
  /** Lower-cased glob (`*`, `?`). */
  readonly glob: string;
}

export type HostNames =
  | { readonly kind: "patterns"; readonly patterns: readonly HostPattern[] }
  | { readonly kind: "hashed"; readonly salt: Buffer; readonly mac: Buffer };

export interface KnownHostEntry {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly marker: KnownHostMarker | null;
  readonly hosts: HostNames;
  readonly keyType: string;
  /** SSH wire-format public key blob (what ssh2 hands to `hostVerifier`). */
  readonly keyBlob: Buffer;
}

export interface ParsedKnownHosts {
  readonly entries: readonly KnownHostEntry[];
  readonly skipped: readonly { readonly line: number; readonly reason: string }[];
}

/** Largest known_hosts file we read. */
export const MAX_KNOWN_HOSTS_BYTES = 4 * 1024 * 1024;
/** Largest key blob on one line (an RSA-16384 key is about 2 KiB). */
const MAX_KEY_BLOB_BYTES = 16 * 1024;
const HASH_MAGIC = "|1|";
const SHA1_LEN = 20;
const KEY_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9@._+-]{0,63}$/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parse known_hosts text. Never throws; bad lines end up in `skipped`. */
export function parseKnownHosts(text: string): ParsedKnownHosts {
  const entries: KnownHostEntry[] = [];
  const skipped: { line: number; reason: string }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? "").replace(/\r$/, "").trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const result = parseLine(raw, i + 1);
    if (typeof result === "string") skipped.push({ line: i + 1, reason: result });
    else entries.push(result);
  }
  return { entries, skipped };
}

function parseLine(text: string, line: number): KnownHostEntry | string {
  const fields = text.split(/[ \t]+/);
  let marker: KnownHostMarker | null = null;
  if (fields[0]?.startsWith("@")) {
    const m = fields.shift();
    if (m === "@revoked") marker = "revoked";
    else if (m === "@cert-authority") marker = "cert-authority";
    else return `unknown marker ${JSON.stringify(m)}`;
  }
  const [hostField, keyType, keyB64] = fields;
  if (hostField === undefined || keyType === undefined || keyB64 === undefined) return "fewer than 3 fields";
  const hosts = parseHostField(hostField);
  if (typeof hosts === "string") return hosts;
  if (!KEY_TYPE_RE.test(keyType)) return "invalid key type";
  if (!BASE64_RE.test(keyB64)) return "key is not base64";
  const keyBlob = Buffer.from(keyB64, "base64");
  if (keyBlob.length > MAX_KEY_BLOB_BYTES) return "key too large";
  if (blobKeyType(keyBlob) !== keyType) return "key type does not match the key";
  return { line, marker, hosts, keyType, keyBlob };
}

function parseHostField(field: string): HostNames | string {
  if (field.startsWith(HASH_MAGIC)) {
    const parts = field.slice(HASH_MAGIC.length).split("|");
    if (parts.length !== 2) return "malformed hashed host";
    const [s, h] = parts as [string, string];
    if (!BASE64_RE.test(s) || !BASE64_RE.test(h)) return "malformed hashed host";
    const salt = Buffer.from(s, "base64");
    const mac = Buffer.from(h, "base64");
    if (salt.length !== SHA1_LEN || mac.length !== SHA1_LEN) return "malformed hashed host";
    return { kind: "hashed", salt, mac };
  }
  const patterns: HostPattern[] = [];
  for (const p of field.split(",")) {
    const negated = p.startsWith("!");
    const glob = (negated ? p.slice(1) : p).toLowerCase();
    if (glob === "") return "empty host pattern";
    patterns.push({ negated, glob });
  }
  return { kind: "patterns", patterns };
}

/** The key type string at the start of an SSH public key blob, or null if the blob is malformed. */
export function blobKeyType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return null;
  return blob.subarray(4, 4 + len).toString("latin1");
}

/** OpenSSH's display/lookup name: `host` for port 22, else `[host]:port`. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
}

/** Names a line may use for this host and port (see the module comment about `[host]:22`). */
function candidateNames(host: string, port: number): string[] {
  const h = host.toLowerCase();
  return port === 22 ? [h, `[${h}]:22`] : [`[${h}]:${port}`];
}

/**
 * OpenSSH's `match_pattern`: `*` matches any run (also empty), `?` exactly one character. Iterative with
 * single-star backtracking, so O(len(name) * len(glob)) at worst.
 */
export function globMatch(name: string, glob: string): boolean {
  let n = 0;
  let g = 0;
  let starG = -1;
  let starN = 0;
  while (n < name.length) {
    const c = glob[g];
    if (c === "*") {
      starG = g++;
      starN = n;
    } else if (c !== undefined && (c === "?" || c === name[n])) {
      g++;
      n++;
    } else if (starG >= 0) {
      g = starG + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (glob[g] === "*") g++;
  return g === glob.length;
}

function hostsMatch(hosts: HostNames, names: readonly string[]): boolean {
  if (hosts.kind === "hashed") {
    return names.some((name) => {
      const mac = createHmac("sha1", hosts.salt).update(name, "utf8").digest();
      return timingSafeEqual(mac, hosts.mac);
    });
  }
  let positive = false;
  for (const p of hosts.patterns) {
    const hit = names.some((name) => globMatch(name, p.glob));
    if (hit && p.negated) return false;
    if (hit) positive = true;
  }
  return positive;
}

/** The entries (of any marker) whose host field applies to `host`:`port`. */
export function entriesForHost(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
): KnownHostEntry[] {
  const names = candidateNames(host, port);
  return entries.filter((e) => hostsMatch(e.hosts, names));
}

/**
 * - "revoked": a `@revoked` line for this host carries this key (wins over everything else);
 * - "trusted": an unmarked line for this host carries this key;
 * - "mismatch": unmarked lines exist for this host, none with this key (key changed, or a type we have no key for);
 * - "unknown": no unmarked line applies to this host (`@cert-authority` lines never count).
 */
export function hostKeyVerdict(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  keyBlob: Buffer,
): HostKeyVerdict {
  const applicable = entriesForHost(entries, host, port);
  if (applicable.some((e) => e.marker === "revoked" && e.keyBlob.equals(keyBlob))) return "revoked";
  const plain = applicable.filter((e) => e.marker === null);
  if (plain.some((e) => e.keyBlob.equals(keyBlob))) return "trusted";
  return plain.length > 0 ? "mismatch" : "unknown";
}

/** Host key algorithms that can present each key type (what to ask the server for). */
const ALGORITHMS_FOR_KEY_TYPE: Readonly<Record<string, readonly string[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256"],
};

/** Host key algorithms we accept at all (no SHA-1 `ssh-rsa`, no DSA), in default preference order. */
export const DEFAULT_HOST_KEY_ALGORITHMS: readonly string[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
];

/**
 * Host key algorithm preference for a connection, like OpenSSH: algorithms for which known_hosts trusts a key of
 * this host come first, so a host with several host keys presents the one we know.
 */
export function hostKeyAlgorithmsFor(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const preferred: string[] = [];
  for (const e of entriesForHost(entries, host, port)) {
    if (e.marker !== null) continue;
    for (const a of ALGORITHMS_FOR_KEY_TYPE[e.keyType] ?? []) if (!preferred.includes(a)) preferred.push(a);
  }
  return [...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => !preferred.includes(a))];
}

/** `ssh-ed25519 SHA256:…` as `ssh-keygen -l` shows it, for messages. */
export function describeHostKey(keyBlob: Buffer): string {
  const fp = createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "");
  return `${blobKeyType(keyBlob) ?? "unknown-type"} SHA256:${fp}`;
}

/** Read and parse a known_hosts file (regular file, at most MAX_KNOWN_HOSTS_BYTES). */
export async function readKnownHosts(path: string): Promise<ParsedKnownHosts> {
  // The user's own file, named by the user: a symbolic link is followed, as OpenSSH does.
  const { data } = await readCheckedFile(path, { what: "known_hosts file", maxBytes: MAX_KNOWN_HOSTS_BYTES, followSymlinks: true }).catch((e: unknown) => {
    throw clientFileError(e);
  });
  return parseKnownHosts(data.toString("utf8"));
}

/** `readKnownHosts` without the diagnostics. */
export async function loadKnownHosts(path: string): Promise<KnownHostEntry[]> {
  return [...(await readKnownHosts(path)).entries];
}
