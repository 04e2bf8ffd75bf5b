/**
 * signstar-download-signature (ForceCommand of signing users):
 * stdin (bounded) → request → calling Unix user → its signing mapping → its secret → backend signature
 * → OpenPGP v4 signature over the client's hasher state with server-chosen subpackets → JSON response.
 * A malformed request fails before any file or HSM is touched (as signstar-sign does).
 */
import type { Readable } from "node:stream";
import { loadConfig, type ConfigLocation } from "../config/load.js";
import { backendUserOf, findUserMapping, isSigningMapping } from "../config/mappings.js";
import { ExitCode, SignstarError } from "../errors.js";
import { perRequestKeys, type SigningKey, type SigningKeys } from "../backends/index.js";
import { withAudit, type AuditEvents } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import { signingKeyLabel } from "../metrics/key-label.js";
import { recordSignatureOutcome } from "../metrics/signature-counters.js";
import { armor } from "../signing/openpgp/armor.js";
import { parseCertificate, type OpenPgpCertificate } from "../signing/openpgp/certificate.js";
import { toHex } from "../signing/openpgp/fingerprint.js";
import { signHasherState, type Notation } from "../signing/openpgp/signature.js";
import { connectSigningLog, logSignature, type SigningLog } from "../tlog/client.js";
import { hostLayout } from "../layout/host-layout.js";
import { MAX_REQUEST_BYTES, parseSigningRequest } from "../signing/request.js";
import { createSigningResponse } from "../signing/response.js";
import { refuseRoot, CallerError, type Caller } from "../caller/caller.js";
import { readBounded } from "../os/read-stream.js";

export interface DownloadSignatureInput {
  readonly stdin: Readable;
  readonly caller: Caller;
  readonly config: ConfigLocation;
  /** Prefix of /var/lib/signstar (tests); "/" in production. */
  readonly stateRoot?: string;
  readonly now: () => Date;
  readonly log: LogSink;
  /** How long the client may take to send its request. */
  readonly stdinTimeoutMs?: number;
  /** Directory of the per-user signature counters of the metrics export; none: not counted. */
  readonly countersDir?: string;
  /** Where the key comes from: opened for this request (default), or held by a resident signer (lib/signer). */
  readonly keys?: SigningKeys;
  /** The log writer's socket when the configuration enables the signing log (default /run/signstar/log/writer.sock). */
  readonly logWriterSocket?: string;
  /** A connection to the log writer (the resident signer keeps one); default: connect to `logWriterSocket` per request. */
  readonly signingLog?: () => Promise<SigningLog>;
}

export const REQUEST_TIMEOUT_MS = 10_000;

export async function downloadSignature(input: DownloadSignatureInput): Promise<string> {
  const { caller } = input;
  const events: AuditEvents = {
    log: input.log,
    success: { event: "signature issued", severity: "info" },
    refusal: "signature refused",
    fields: { user: caller.name, key: "-", sha512: "-" },
    // Counted once the key is known (a request refused before that names none).
    alongside: (outcome, fields) => (fields["key"] === "-" ? undefined : count(input, String(fields["key"]), outcome)),
  };
  return withAudit(events, async (audit) => {
    refuseRoot(caller);
    const raw = await readBounded(input.stdin, "the signing request", MAX_REQUEST_BYTES, input.stdinTimeoutMs ?? REQUEST_TIMEOUT_MS);
    const request = parseSigningRequest(raw);
    audit.set({ sha512: Buffer.from(request.state.digest()).toString("hex") });

    const { config } = await loadConfig(input.config);
    if (config.system.auditLog === "best-effort") audit.allowUnaudited();
    const found = findUserMapping(config, caller.name);
    if (!found || !isSigningMapping(found)) {
      throw new CallerError(`the user "${caller.name}" has no signing mapping in the configuration`);
    }
    const key = signingKeyLabel(found);
    audit.set({ key });
    const secret = {
      systemUser: found.mapping.systemUser,
      backendUser: backendUserOf(found),
      handling: config.system.nonAdminSecretHandling,
      caller,
      ...(input.stateRoot !== undefined ? { root: input.stateRoot } : {}),
    };
    const created = input.now();
    const sign = (notations: readonly Notation[]) =>
      (input.keys ?? perRequestKeys).withKey({ config, mapping: found, secret }, async (signingKey) => {
        const certificate = await certificateOf(signingKey, key);
        return { packet: await signHasherState(request.state, signingKey, certificate, { created, notations }), fingerprint: toHex(certificate.fingerprint).toLowerCase() };
      });
    const logSetup = config.system.signingLog;
    if (logSetup === undefined) return createSigningResponse(armor("SIGNATURE", (await sign([])).packet));
    // The signing log (docs/tlog.md): reserve → sign with the log notation → entry durable → only then answer.
    const log = await (input.signingLog ?? (() => connectSigningLog(input.logWriterSocket ?? hostLayout().logWriterSocket)))();
    try {
      const logged = await logSignature(
        log,
        async (notation) => {
          const s = await sign([notation]);
          return { packet: s.packet, key: s.fingerprint, digest: Buffer.from(request.state.digest()).toString("hex"), created: Math.floor(created.getTime() / 1000) };
        },
        logSetup.origin,
      );
      audit.set({ log_index: logged.index });
      return createSigningResponse(armor("SIGNATURE", logged.packet));
    } finally {
      log.close();
    }
  });
}

function count(input: DownloadSignatureInput, key: string, outcome: "ok" | "error"): Promise<boolean> | undefined {
  if (input.countersDir === undefined) return undefined;
  const { name: user, uid } = input.caller;
  return recordSignatureOutcome({ dir: input.countersDir, user, uid, key, outcome, now: input.now() });
}

async function certificateOf(signingKey: SigningKey, key: string): Promise<OpenPgpCertificate> {
  const bytes = await signingKey.certificate();
  if (!bytes) {
    throw new SignstarError(`the key ${key} has no OpenPGP certificate on the backend; run signstar-configure`, ExitCode.Backend);
  }
  return parseCertificate(bytes);
}
