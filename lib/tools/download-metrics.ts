/**
 * signstar-download-metrics (ForceCommand of metrics users; run by signstar-admin for hermetic metrics users):
 * Prometheus text exposition of
 *  - NetHSM device metrics (GET /metrics) with the caller's Metrics-role user,
 *  - per-key figures (operation counters, type, mechanisms) with the caller's Operator users (each sees the keys
 *    of its namespace) — these two only for a `[nethsm]` metrics mapping: a `[pkcs11]` one holds no NetHSM
 *    credentials and makes no NetHSM call,
 *  - what each configured PKCS#11 token tells a public session (token info, memory, sessions, key and
 *    certificate object counts),
 *  - host-side signature counters per signing user and key (lib/metrics/signature-counters.ts),
 *  - share status and signing-log figures, where present.
 * A source that fails is exported as `signstar_source_up{…} 0` (and logged), so one broken source does not hide
 * the rest; role, config and the tool's own failures fail the whole call.
 */
import type { ConfigLocation } from "../config/load.js";
import { isSigningMapping, userMappings } from "../config/mappings.js";
import type { Config, MetricsBackendUsers, TokenSelector } from "../config/model.js";
import { lookupUser } from "../os/accounts.js";
import { SignstarError } from "../errors.js";
import { auditLine, refusalReason, withAudit } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import { signingKeyLabel } from "../metrics/key-label.js";
import { Exposition, sanitizeName } from "../metrics/prometheus.js";
import { readSignatureCounters } from "../metrics/signature-counters.js";
import { namespaceOf } from "../config/primitives.js";
import type { Caller } from "../caller/caller.js";
import { callerSecret, requireRole } from "../caller/role.js";
import { openWithUserSecret } from "../backends/index.js";
import type { NetHsmClient } from "../backends/nethsm/index.js";
import { readShareStatus } from "../spool/shares.js";
import { hostLayout } from "../layout/host-layout.js";
import { readLogStatus } from "../tlog/status.js";

export const METRICS_REQUEST_TIMEOUT_MS = 10_000;
const MAX_KEYS_PER_OPERATOR = 1000;

export interface DownloadMetricsInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  readonly now: () => Date;
  /** Root prefix of host paths (counters); SIGNSTAR_ROOT. */
  readonly root?: string;
  /** Root prefix of secrets (tests); "/" in production. */
  readonly stateRoot?: string;
  readonly timeoutMs?: number;
}

interface Collector {
  readonly e: Exposition;
  readonly up: string;
  readonly log: LogSink;
  readonly caller: Caller;
}

async function source(c: Collector, labels: Record<string, string>, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    c.e.set(c.up, labels, 1);
  } catch (error) {
    c.e.set(c.up, labels, 0);
    await c.log.write("warning", auditLine("metrics source failed", { user: c.caller.name, ...labels, reason: refusalReason(error) }));
  }
}

function numeric(v: string | number): number | undefined {
  const n = typeof v === "number" ? v : /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** NetHSM counters by their GET /metrics name (keyfender's Metrics, `src/keyfender/hsm.ml`, Nitrokey/nethsm 4e192fb9); other names are gauges. */
const DEVICE_COUNTERS = new Set([
  "log warnings", "log errors", "gc major collections", "gc minor collections", "gc compactions",
  "generate", "sign", "decrypt", "encrypt", "kv write",
]);

/**
 * Prometheus name, type and labels of one GET /metrics entry: "http response <code>" becomes
 * signstar_nethsm_http_responses_total{code}; "http response total" is left out (the sum of those); counters
 * get the _total suffix; "uptime" is in seconds.
 */
export function deviceMetric(key: string): { name: string; type: "gauge" | "counter"; help: string; labels: Record<string, string> } | undefined {
  const help = `NetHSM device metric "${key}" (GET /metrics)`;
  const code = /^http response (\d{3})$/.exec(key);
  if (code) return { name: "signstar_nethsm_http_responses_total", type: "counter", help: "HTTP responses of the NetHSM by status code (GET /metrics)", labels: { code: code[1]! } };
  if (key === "http response total") return undefined;
  if (key === "uptime") return { name: "signstar_nethsm_uptime_seconds", type: "gauge", help, labels: {} };
  const base = sanitizeName(key).replace(/_total$/, "");
  if (DEVICE_COUNTERS.has(key)) return { name: `signstar_nethsm_${base}_total`, type: "counter", help, labels: {} };
  return { name: `signstar_nethsm_${base}`, type: "gauge", help, labels: {} };
}

/**
 * Runs `body` with a NetHSM client of one of the caller's backend users, logged in through openWithUserSecret
 * (so a rotation in progress is followed); the first call of `body` must be one the NetHSM authenticates.
 */
async function withNetHsm<T>(c: Collector, config: Config, backendUser: string, input: DownloadMetricsInput, body: (client: NetHsmClient) => Promise<T>): Promise<T> {
  const { netHsmClientFor } = await import("../backends/nethsm/index.js");
  const location = callerSecret(config, c.caller, backendUser, input.stateRoot);
  const { value } = await openWithUserSecret({ backend: "nethsm" }, location, async (passphrase) => {
    const client = netHsmClientFor(config, { user: backendUser, passphrase }, { timeoutMs: input.timeoutMs ?? METRICS_REQUEST_TIMEOUT_MS });
    try {
      return await body(client);
    } finally {
      client.close();
    }
  });
  return value;
}

async function deviceMetrics(c: Collector, config: Config, users: MetricsBackendUsers, input: DownloadMetricsInput): Promise<void> {
  await source(c, { source: "nethsm_device", backend_user: users.metricsUser }, async () => {
    const metrics = await withNetHsm(c, config, users.metricsUser, input, (client) => client.metrics());
    for (const [k, v] of Object.entries(metrics)) {
      const n = numeric(v);
      if (n === undefined) continue;
      const m = deviceMetric(k);
      if (m === undefined) continue;
      c.e.set(c.e.family(m.name, m.type, m.help), m.labels, n);
    }
  });
}

async function keyMetrics(c: Collector, config: Config, operator: string, input: DownloadMetricsInput): Promise<void> {
  await source(c, { source: "nethsm_keys", backend_user: operator }, async () => {
    const namespace = namespaceOf(operator as Parameters<typeof namespaceOf>[0]) ?? "";
    // Listing the keys is the first call, and checks the passphrase.
    await withNetHsm(c, config, operator, input, async (client) => {
      const ids = (await client.listKeys()).slice(0, MAX_KEYS_PER_OPERATOR);
      const ops = c.e.family("signstar_nethsm_key_operations_total", "counter", "Operations (sign, decrypt, encrypt) the NetHSM counted for the key");
      const info = c.e.family("signstar_nethsm_key_info", "gauge", "A key on the NetHSM (value 1), with its type, mechanisms and tags");
      for (const id of ids) {
        const d = await client.getKey(id);
        const labels = { namespace, key: id };
        c.e.set(ops, labels, d.operations);
        c.e.set(info, { ...labels, type: d.type, mechanisms: [...d.mechanisms].sort().join(","), tags: [...(d.restrictions.tags ?? [])].sort().join(",") }, 1);
      }
    });
  });
}

function tokenName(t: TokenSelector): string {
  return "label" in t ? t.label : `serial:${t.serial}`;
}

async function tokenMetrics(c: Collector, config: Config): Promise<void> {
  const pkcs11 = config.pkcs11;
  if (!pkcs11) return;
  const tokens = new Map<string, { token: TokenSelector; keys: number }>();
  for (const m of pkcs11.mappings) {
    if (m.kind !== "signing") continue;
    const k = JSON.stringify(m.token);
    const t = tokens.get(k) ?? { token: m.token, keys: 0 };
    tokens.set(k, { ...t, keys: t.keys + 1 });
  }
  if (tokens.size === 0) return;
  const { readTokenFacts } = await import("../backends/pkcs11/index.js");
  const e = c.e;
  const f = {
    info: e.family("signstar_pkcs11_token_info", "gauge", "A configured PKCS#11 token (value 1) with its label, serial, manufacturer and model"),
    configured: e.family("signstar_pkcs11_token_configured_keys", "gauge", "Signing keys the configuration maps to the token"),
    pub: e.family("signstar_pkcs11_token_public_keys", "gauge", "Public key objects on the token (visible without login)"),
    certs: e.family("signstar_pkcs11_token_certificates", "gauge", "Signstar OpenPGP certificate objects on the token"),
    sessions: e.family("signstar_pkcs11_token_sessions", "gauge", "Sessions open on the token (where the token reports it)"),
    maxSessions: e.family("signstar_pkcs11_token_max_sessions", "gauge", "Most sessions the token allows (where the token reports it)"),
    freePub: e.family("signstar_pkcs11_token_free_public_memory_bytes", "gauge", "Free public memory of the token (where reported)"),
    totalPub: e.family("signstar_pkcs11_token_total_public_memory_bytes", "gauge", "Total public memory of the token (where reported)"),
    freePriv: e.family("signstar_pkcs11_token_free_private_memory_bytes", "gauge", "Free private memory of the token (where reported)"),
    totalPriv: e.family("signstar_pkcs11_token_total_private_memory_bytes", "gauge", "Total private memory of the token (where reported)"),
  };
  for (const { token, keys } of tokens.values()) {
    const name = tokenName(token);
    e.set(f.configured, { token: name }, keys);
    await source(c, { source: "pkcs11_token", token: name }, async () => {
      const t = readTokenFacts(pkcs11.module, token);
      const l = { token: name };
      e.set(f.info, { ...l, serial: t.serial, manufacturer: t.manufacturer, model: t.model }, 1);
      e.set(f.pub, l, t.publicKeys);
      e.set(f.certs, l, t.certificates);
      if (t.sessionCount !== undefined) e.set(f.sessions, l, t.sessionCount);
      if (t.maxSessionCount !== undefined) e.set(f.maxSessions, l, t.maxSessionCount);
      if (t.freePublicMemory !== undefined) e.set(f.freePub, l, t.freePublicMemory);
      if (t.totalPublicMemory !== undefined) e.set(f.totalPub, l, t.totalPublicMemory);
      if (t.freePrivateMemory !== undefined) e.set(f.freePriv, l, t.freePrivateMemory);
      if (t.totalPrivateMemory !== undefined) e.set(f.totalPriv, l, t.totalPrivateMemory);
    });
  }
}

async function hostCounters(c: Collector, config: Config, root: string | undefined): Promise<void> {
  const dir = hostLayout(root).signatureCountersDir;
  const e = c.e;
  const configured = e.family("signstar_signing_key_configured", "gauge", "A signing key the configuration maps to a signing user (value 1)");
  const total = e.family("signstar_signatures_total", "counter", "Signing requests answered by the host, per user, key and outcome (ok, error)");
  const lastOk = e.family("signstar_signature_last_success_timestamp_seconds", "gauge", "Unix time of the last signature issued for the user and key");
  const lastErr = e.family("signstar_signature_last_failure_timestamp_seconds", "gauge", "Unix time of the last refused signing request for the user and key");
  for (const m of userMappings(config)) {
    if (!isSigningMapping(m)) continue;
    const user = m.mapping.systemUser;
    const key = signingKeyLabel(m);
    e.set(configured, { user, key, backend: m.backend }, 1);
    await source(c, { source: "host_counters", user }, async () => {
      const entry = await lookupUser(user);
      const counters = entry ? await readSignatureCounters(dir, user, entry.uid) : {};
      const own = counters[key] ?? { ok: 0, error: 0, lastOk: 0, lastError: 0 };
      e.set(total, { user, key, outcome: "ok" }, own.ok);
      e.set(total, { user, key, outcome: "error" }, own.error);
      if (own.lastOk > 0) e.set(lastOk, { user, key }, own.lastOk);
      if (own.lastError > 0) e.set(lastErr, { user, key }, own.lastError);
    });
  }
}

/** Shamir share holders whose share is still on the host (share-status.json, written by configure and the wipe timer). */
async function shareFigures(c: Collector, root: string | undefined): Promise<void> {
  const e = c.e;
  await source(c, { source: "share_status" }, async () => {
    const status = await readShareStatus(root ?? "/");
    if (status === undefined) return;
    const unconfirmed = e.family("signstar_share_unconfirmed", "gauge", "A holder whose share is still on the host: 1 staged or downloaded but not confirmed, 0 confirmed");
    for (const h of status.holders) e.set(unconfirmed, { set: status.setId, holder: h.user, state: h.state }, h.state === "pending" || h.state === "claimed" ? 1 : 0);
    e.set(e.family("signstar_share_confirm_deadline_timestamp_seconds", "gauge", "Unix time after which unconfirmed shares are warned about"), { set: status.setId }, Math.floor(Date.parse(status.deadline) / 1000));
  });
}

/** The signing log's size and last checkpoint time (its checkpoint file) and the writer's append figures. */
async function signingLogMetrics(c: Collector, root: string | undefined): Promise<void> {
  const dir = hostLayout(root).signingLogDir;
  const e = c.e;
  const entries = e.family("signstar_signing_log_entries", "gauge", "Entries in the signing log's last checkpoint");
  const checkpointTime = e.family("signstar_signing_log_checkpoint_timestamp_seconds", "gauge", "Unix time the signing log's checkpoint was last written");
  const appended = e.family("signstar_signing_log_appended_entries_total", "counter", "Entries the running log writer appended (void entries included)");
  const latency = e.family("signstar_signing_log_append_latency_seconds_total", "counter", "Sum over appended signature entries of the time from commit to durable");
  const batches = e.family("signstar_signing_log_batches_total", "counter", "Batches (fsync rounds, one checkpoint each) of the running log writer");
  await source(c, { source: "signing_log" }, async () => {
    const status = await readLogStatus(dir);
    e.set(entries, {}, status.size);
    e.set(checkpointTime, {}, Math.floor(status.checkpointMtimeMs / 1000));
    if (status.writer.appendedEntries !== undefined) e.set(appended, {}, status.writer.appendedEntries);
    if (status.writer.appendLatencySumMs !== undefined) e.set(latency, {}, status.writer.appendLatencySumMs / 1000);
    if (status.writer.batches !== undefined) e.set(batches, {}, status.writer.batches);
  });
}

export async function downloadMetrics(input: DownloadMetricsInput): Promise<string> {
  const { caller, log } = input;
  const started = Date.now();
  // Only refusals are entries: a scrape every few seconds would drown the log.
  return withAudit({ log, refusal: "metrics refused", fields: { user: caller.name } }, async () => {
    const { config, mapping } = await requireRole(caller, input.config, ["metrics", "hermetic_metrics"], "signstar-download-metrics");
    if (mapping.backend === "system" || (mapping.mapping.kind !== "metrics" && mapping.mapping.kind !== "hermetic_metrics")) {
      throw new SignstarError("metrics mapping expected");
    }
    const e = new Exposition();
    const c: Collector = { e, up: e.family("signstar_source_up", "gauge", "Whether a metrics source answered (1) or failed (0); failures are in the system log"), log, caller };
    // A [pkcs11] metrics user holds no backend credentials: the host figures and the tokens' public facts only.
    if (mapping.backend === "nethsm" && (mapping.mapping.kind === "metrics" || mapping.mapping.kind === "hermetic_metrics")) {
      const users = mapping.mapping.backendUsers;
      await deviceMetrics(c, config, users, input);
      for (const op of users.operatorUsers) await keyMetrics(c, config, op, input);
    }
    await tokenMetrics(c, config);
    await hostCounters(c, config, input.root);
    await shareFigures(c, input.root);
    if (config.system.signingLog !== undefined) await signingLogMetrics(c, input.root);
    const now = input.now();
    e.set(e.family("signstar_metrics_timestamp_seconds", "gauge", "Unix time at which these metrics were collected"), {}, Math.floor(now.getTime() / 1000));
    e.set(e.family("signstar_metrics_duration_seconds", "gauge", "Time it took to collect these metrics"), {}, (Date.now() - started) / 1000);
    return e.render();
  });
}
