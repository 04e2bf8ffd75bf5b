/**
 * signstar-download-key-certificates (ForceCommand of key_certificates users): the OpenPGP certificates of all
 * signing keys of the configuration, as one armored keyring ("PUBLIC KEY BLOCK" of the concatenated binary
 * certificates, in configuration order), or — mode `json` — a JSON index (key, backend, system user, OpenPGP
 * fingerprint and key id, SHA3-384 of the public key, user IDs, creation time, algorithm).
 *
 * The mode comes from SSH_ORIGINAL_COMMAND (ForceCommand ignores the client's arguments), compared against a
 * whitelist: "" or "keyring" → keyring, "json" → index, anything else → usage error (exit 2). It only selects
 * the output format, so it cannot widen what the user may do.
 *
 * Each certificate is checked against the backend's public key of the key it is stored with (a certificate of
 * another key fails the whole call, exit 7); a key without certificate fails too (run signstar-configure).
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

export type CertificateMode = "keyring" | "json";

/** Maps SSH_ORIGINAL_COMMAND (or a local --json) to a mode; anything not whitelisted is a usage error. */
export function certificateMode(original: string | undefined, json = false): CertificateMode {
  if (json) return "json";
  const c = (original ?? "").trim();
  if (c === "" || c === "keyring") return "keyring";
  if (c === "json") return "json";
  throw new UsageError(`unknown mode "${c.slice(0, 40)}"`, 'ssh <user>@<host> [keyring|json] (SSH_ORIGINAL_COMMAND "json" selects the JSON index)');
}

export interface DownloadKeyCertificatesInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  readonly mode: CertificateMode;
  readonly stateRoot?: string;
  readonly timeoutMs?: number;
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

function check(label: string, bytes: Uint8Array | undefined, publicKey: PublicKey): OpenPgpCertificate {
  if (!bytes) throw new SignstarError(`the key ${label} has no OpenPGP certificate on the backend; run signstar-configure`, ExitCode.Backend);
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

async function collect(config: Config, caller: Caller, operators: readonly NetHsmUserId[], input: DownloadKeyCertificatesInput): Promise<Found[]> {
  const signing = userMappings(config).filter(isSigningMapping);
  const found: Found[] = [];
  const readers = new NetHsmReaders(config, caller, operators, input);
  try {
    for (const m of signing) {
      const label = signingKeyLabel(m);
      if (m.backend === "nethsm") {
        const client = await readers.forNamespace(namespaceOf(m.mapping.backendUser), label);
        const id = m.mapping.signingKeyId;
        try {
          const { publicKeyOf } = await import("../backends/nethsm/index.js");
          const publicKey = publicKeyOf(await client.getKey(id), id);
          found.push({ mapping: m, label, publicKey, certificate: check(label, await client.getKeyCertificate(id), publicKey) });
        } catch (e) {
          throw backendError(e, `reading ${label}`);
        }
      } else {
        const { readPublicKeyAndCertificate } = await import("../backends/pkcs11/index.js");
        const r = readPublicKeyAndCertificate(pkcs11Section(config).module, m.mapping.token, m.mapping.key);
        found.push({ mapping: m, label, publicKey: r.publicKey, certificate: check(label, r.certificate, r.publicKey) });
      }
    }
  } finally {
    readers.close();
  }
  return found;
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
    const operators = mapping.backend === "nethsm" && mapping.mapping.kind === "key_certificates" ? mapping.mapping.backendUsers : [];
    const found = await collect(config, caller, operators, input);
    if (found.length === 0) throw new SignstarError("the configuration has no signing keys", ExitCode.Config);
    audit.set({ mode: input.mode, keys: found.length });
    if (input.mode === "json") return `${JSON.stringify({ version: 1, keys: found.map(indexEntry) }, null, 2)}\n`;
    const ring = Buffer.concat(found.map((f) => Buffer.from(f.certificate.bytes)));
    return armor("PUBLIC KEY BLOCK", ring);
  });
}
