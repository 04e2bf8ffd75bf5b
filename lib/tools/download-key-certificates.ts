/**
 * signstar-download-key-certificates (ForceCommand of key_certificates users): the OpenPGP certificates of all
 * signing keys of the configuration, as one armored keyring ("PUBLIC KEY BLOCK" of the concatenated binary
 * certificates, in configuration order), or — mode `json` — a JSON index (key, backend, system user, OpenPGP
 * fingerprint and key id, SHA3-384 of the public key, user IDs, creation time, algorithm).
 *
 * The mode comes from SSH_ORIGINAL_COMMAND (ForceCommand ignores the client's arguments), compared against a
 * whitelist: "" or "keyring" → keyring, "json" → index, "log-vkey" → the signing log's verifier key line alone,
 * anything else → usage error (exit 2). It only selects the output format, so it cannot widen what the user may do.
 *
 * With `signing_log` configured, the signing log's verifier key (public, from signstar-configure's log.vkey) ships
 * with the certificates: in the keyring as the armor header `Comment: signstar-log <vkey>` (OpenPGP tools skip
 * Comment headers, so existing clients read the same keyring), in the index as `signing_log: { origin,
 * verifier_key }` (a new field of version 1; readers ignore fields they do not know). A log key not made yet is
 * left out with one `warn` line, like a key not provisioned yet.
 *
 * Each certificate is checked against the backend's public key of the key it is stored with (a certificate of
 * another key, or one that does not parse, fails the whole call, exit 7: that is tampering or corruption, never a
 * state to serve around). A key that is not provisioned yet (no key, or no certificate, on the backend) is left
 * out with one `warn` line naming it and the fix; the call fails (exit 7) only when no key at all could be served,
 * so one new signer waiting for signstar-configure does not take every other key's certificate away.
 * NetHSM keys are read with the caller's Operator users (the one of the key's namespace); PKCS#11 keys in a
 * public session without PIN.
 */
import type { ConfigLocation } from "../config/load.js";
import { namespaceOf } from "../config/primitives.js";
import { isSigningMapping, pkcs11Section, userMappings, type SigningMapping } from "../config/mappings.js";
import type { Config, NetHsmUserId } from "../config/model.js";
import { backendError, openWithUserSecret } from "../backends/index.js";
import { ExitCode, SignstarError, UsageError } from "../errors.js";
import { withAudit } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import { signingKeyLabel } from "../metrics/key-label.js";
import { publicKeySha3_384 } from "../signing/key-digest.js";
import { publicKeysEqual } from "../signing/public-key.js";
import { armor } from "../signing/openpgp/armor.js";
import { parseCertificate, type OpenPgpCertificate } from "../signing/openpgp/certificate.js";
import { toHex } from "../signing/openpgp/fingerprint.js";
import type { PublicKey } from "../signing/signer.js";
import type { Caller } from "../caller/caller.js";
import { callerSecret, requireRole } from "../caller/role.js";
import type { NetHsmClient } from "../backends/nethsm/index.js";
import { hostLayout } from "../layout/host-layout.js";
import { FileReadError } from "../os/read-file.js";
import { readVerifierKeyFile } from "../tlog/key-file.js";

export type CertificateMode = "keyring" | "json" | "log-vkey";

/** The armor header of the keyring that carries the signing log's verifier key: `Comment: signstar-log <vkey>`. */
export const LOG_VKEY_COMMENT = "signstar-log";

/** Maps SSH_ORIGINAL_COMMAND (or a local --json) to a mode; anything not whitelisted is a usage error. */
export function certificateMode(original: string | undefined, json = false): CertificateMode {
  if (json) return "json";
  const c = (original ?? "").trim();
  if (c === "" || c === "keyring") return "keyring";
  if (c === "json") return "json";
  if (c === "log-vkey") return "log-vkey";
  throw new UsageError(`unknown mode "${c.slice(0, 40)}"`, 'ssh <user>@<host> [keyring|json|log-vkey] (SSH_ORIGINAL_COMMAND selects the output)');
}

export interface DownloadKeyCertificatesInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  readonly mode: CertificateMode;
  readonly stateRoot?: string;
  readonly timeoutMs?: number;
  /** Where the names of keys left out go (stderr, through the shell). */
  readonly warn?: (message: string) => void;
}

export interface KeyIndexEntry {
  readonly key: string;
  readonly backend: "nethsm" | "pkcs11";
  readonly system_user: string;
  readonly openpgp_fingerprint: string;
  readonly openpgp_key_id: string;
  readonly public_key_sha3_384: string;
  readonly algorithm: string;
  readonly created: string;
  readonly user_ids: readonly string[];
}

interface Found {
  readonly mapping: SigningMapping;
  readonly label: string;
  readonly certificate: OpenPgpCertificate;
  readonly publicKey: PublicKey;
}

function algorithm(pk: PublicKey): string {
  if (pk.kind === "rsa") return `rsa${pk.n.length * 8}`;
  if (pk.kind === "ed25519") return "ed25519";
  return `ecdsa-${pk.curve.toLowerCase()}`;
}

/** A configured key that the backend does not hold yet, or holds without its certificate: signstar-configure makes both. */
class NotProvisioned extends SignstarError {}

function check(label: string, bytes: Uint8Array | undefined, publicKey: PublicKey): OpenPgpCertificate {
  if (!bytes) throw new NotProvisioned(`the key ${label} has no OpenPGP certificate on the backend; run signstar-configure`, ExitCode.Backend);
  let cert: OpenPgpCertificate;
  try {
    cert = parseCertificate(bytes);
  } catch (e) {
    throw new SignstarError(`the certificate stored with ${label} is not a valid OpenPGP certificate: ${e instanceof Error ? e.message : String(e)}`, ExitCode.Backend);
  }
  if (!publicKeysEqual(cert.publicKey, publicKey)) {
    throw new SignstarError(`the certificate stored with ${label} belongs to another key (fingerprint ${toHex(cert.fingerprint)})`, ExitCode.Backend);
  }
  return cert;
}

class NetHsmReaders {
  private readonly clients = new Map<string, NetHsmClient>();
  constructor(
    private readonly config: Config,
    private readonly caller: Caller,
    private readonly operators: readonly NetHsmUserId[],
    private readonly input: DownloadKeyCertificatesInput,
  ) {}

  async forNamespace(ns: string | undefined, label: string): Promise<NetHsmClient> {
    const op = this.operators.find((u) => namespaceOf(u) === ns);
    if (op === undefined) {
      const where = ns === undefined ? "system-wide" : `namespace "${ns}"`;
      throw new SignstarError(`the user "${this.caller.name}" has no ${where} operator user to read ${label}`, ExitCode.Config);
    }
    let client = this.clients.get(op);
    if (!client) {
      const { netHsmClientFor } = await import("../backends/nethsm/index.js");
      const location = callerSecret(this.config, this.caller, op, this.input.stateRoot);
      // Listing the keys checks the passphrase before the client is kept for this namespace.
      ({ value: client } = await openWithUserSecret({ backend: "nethsm" }, location, async (passphrase) => {
        const c = netHsmClientFor(this.config, { user: op, passphrase }, { timeoutMs: this.input.timeoutMs });
        try {
          await c.listKeys();
          return c;
        } catch (e) {
          c.close();
          throw e;
        }
      }));
      this.clients.set(op, client);
    }
    return client;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

/** Reads one key and its certificate; NotProvisioned when the backend does not hold them yet. */
async function readKey(m: SigningMapping, label: string, config: Config, readers: NetHsmReaders): Promise<Found> {
  if (m.backend === "nethsm") {
    const client = await readers.forNamespace(namespaceOf(m.mapping.backendUser), label);
    const id = m.mapping.signingKeyId;
    const { publicKeyOf, NetHsmHttpError } = await import("../backends/nethsm/index.js");
    let key;
    try {
      key = await client.getKey(id);
    } catch (e) {
      if (e instanceof NetHsmHttpError && e.status === 404) throw new NotProvisioned(`the key ${label} does not exist on the NetHSM yet; run signstar-configure`, ExitCode.Backend);
      throw backendError(e, `reading ${label}`);
    }
    try {
      const publicKey = publicKeyOf(key, id);
      return { mapping: m, label, publicKey, certificate: check(label, await client.getKeyCertificate(id), publicKey) };
    } catch (e) {
      if (e instanceof SignstarError) throw e;
      throw backendError(e, `reading ${label}`);
    }
  }
  const { readPublicKeyAndCertificate, Pkcs11KeyNotFoundError } = await import("../backends/pkcs11/index.js");
  let r;
  try {
    r = readPublicKeyAndCertificate(pkcs11Section(config).module, m.mapping.token, m.mapping.key);
  } catch (e) {
    if (e instanceof Pkcs11KeyNotFoundError) throw new NotProvisioned(`${e.message}; run signstar-configure`, ExitCode.Backend);
    throw e;
  }
  return { mapping: m, label, publicKey: r.publicKey, certificate: check(label, r.certificate, r.publicKey) };
}

async function collect(config: Config, caller: Caller, operators: readonly NetHsmUserId[], input: DownloadKeyCertificatesInput): Promise<{ found: Found[]; missing: NotProvisioned[] }> {
  const signing = userMappings(config).filter(isSigningMapping);
  const found: Found[] = [];
  const missing: NotProvisioned[] = [];
  const readers = new NetHsmReaders(config, caller, operators, input);
  try {
    for (const m of signing) {
      try {
        found.push(await readKey(m, signingKeyLabel(m), config, readers));
      } catch (e) {
        if (!(e instanceof NotProvisioned)) throw e;
        missing.push(e);
      }
    }
  } finally {
    readers.close();
  }
  return { found, missing };
}

/** The configured log's verifier key; NotProvisioned before signstar-configure made the key; undefined without a log. */
async function logVerifierKey(config: Config, input: DownloadKeyCertificatesInput): Promise<string | NotProvisioned | undefined> {
  const setup = config.system.signingLog;
  if (setup === undefined) return undefined;
  const path = hostLayout(input.stateRoot).signingLogVerifierKey;
  try {
    return await readVerifierKeyFile(path, setup.origin);
  } catch (error) {
    if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") {
      return new NotProvisioned(`the signing log's verifier key (${path} is missing); run signstar-configure`, ExitCode.Config);
    }
    throw error;
  }
}

function indexEntry(f: Found): KeyIndexEntry {
  return {
    key: f.label,
    backend: f.mapping.backend,
    system_user: f.mapping.mapping.systemUser,
    openpgp_fingerprint: toHex(f.certificate.fingerprint).toUpperCase(),
    openpgp_key_id: toHex(f.certificate.keyId).toUpperCase(),
    public_key_sha3_384: publicKeySha3_384(f.publicKey),
    algorithm: algorithm(f.publicKey),
    created: f.certificate.created.toISOString(),
    user_ids: f.certificate.userIds,
  };
}

export async function downloadKeyCertificates(input: DownloadKeyCertificatesInput): Promise<string> {
  const { caller } = input;
  const events = {
    log: input.log,
    success: { event: "key certificates downloaded", severity: "info" as const },
    refusal: "key certificates refused",
    fields: { user: caller.name },
  };
  return withAudit(events, async (audit) => {
    const { config, mapping } = await requireRole(caller, input.config, ["key_certificates"], "signstar-download-key-certificates");
    const vkey = await logVerifierKey(config, input);
    if (input.mode === "log-vkey") {
      if (vkey === undefined) throw new SignstarError("this host signs without a signing log (signing_log in [system])", ExitCode.Config);
      if (vkey instanceof NotProvisioned) throw vkey;
      audit.set({ mode: input.mode });
      return `${vkey}\n`;
    }
    if (vkey instanceof NotProvisioned) input.warn?.(`left out: ${vkey.message}`);
    const log = typeof vkey === "string" ? { origin: config.system.signingLog!.origin, verifier_key: vkey } : undefined;
    const operators = mapping.backend === "nethsm" && mapping.mapping.kind === "key_certificates" ? mapping.mapping.backendUsers : [];
    const { found, missing } = await collect(config, caller, operators, input);
    if (found.length === 0 && missing.length === 0) throw new SignstarError("the configuration has no signing keys", ExitCode.Config);
    if (found.length === 0) throw missing[0]!;
    for (const m of missing) input.warn?.(`left out: ${m.message}`);
    audit.set({ mode: input.mode, keys: found.length, ...(missing.length > 0 ? { missing: missing.length } : {}) });
    if (input.mode === "json") return `${JSON.stringify({ version: 1, keys: found.map(indexEntry), ...(log ? { signing_log: log } : {}) }, null, 2)}\n`;
    const ring = Buffer.concat(found.map((f) => Buffer.from(f.certificate.bytes)));
    return armor("PUBLIC KEY BLOCK", ring, log ? [["Comment", `${LOG_VKEY_COMMENT} ${log.verifier_key}`]] : []);
  });
}
