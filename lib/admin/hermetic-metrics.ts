/**
 * `signstar-admin write-hermetic-metrics --textfile-dir DIR` (root; signstar-hermetic-metrics.timer): for each
 * hermetic_metrics user of the configuration, runs signstar-download-metrics AS THAT USER (setpriv: its uid,
 * gid and supplementary groups, a minimal environment), so only that user's own secrets are read, and writes
 * what it printed atomically to `DIR/signstar-<user>.prom` (0644) for node_exporter's textfile collector.
 * A failed collection still writes a file, with `signstar_hermetic_metrics_success{user} 0`, so that alerts fire
 * instead of stale figures lingering.
 */
import { join } from "node:path";
import { loadConfig, type ConfigLocation } from "../config/load.js";
import { userMappings } from "../config/mappings.js";
import { ExitCode, SignstarError } from "../errors.js";
import { lookupUser } from "../os/accounts.js";
import { run, DEFAULT_ENV } from "../os/run.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { Exposition } from "../metrics/prometheus.js";

const MAX_OUTPUT = 8 * 1024 * 1024;
/** Variables passed on to the per-user collector (everything else is dropped). */
const PASSED_ENV = ["SIGNSTAR_CONFIG", "SIGNSTAR_ROOT", "SIGNSTAR_LOG_SOCKET", "SOFTHSM2_CONF", "P11_KIT_SERVER_ADDRESS"] as const;

export interface HermeticMetricsInput {
  readonly config: ConfigLocation;
  readonly textfileDir: string;
  /** argv that runs signstar-download-metrics (e.g. [node, dist/bin/signstar-download-metrics.js]). */
  readonly collector: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  readonly now: () => Date;
}

export interface HermeticResult {
  readonly user: string;
  readonly file: string;
  readonly ok: boolean;
  readonly reason?: string;
}

function status(user: string, ok: boolean, now: Date): string {
  const e = new Exposition();
  const s = e.family("signstar_hermetic_metrics_success", "gauge", "Whether the last collection for the hermetic metrics user succeeded");
  const t = e.family("signstar_hermetic_metrics_last_run_timestamp_seconds", "gauge", "Unix time of the last collection for the hermetic metrics user");
  e.set(s, { user }, ok ? 1 : 0);
  e.set(t, { user }, Math.floor(now.getTime() / 1000));
  return e.render();
}

export async function writeHermeticMetrics(input: HermeticMetricsInput): Promise<HermeticResult[]> {
  if (process.geteuid?.() !== 0) throw new SignstarError("write-hermetic-metrics must run as root", ExitCode.Denied);
  const { config, path } = await loadConfig(input.config);
  const env: NodeJS.ProcessEnv = { ...DEFAULT_ENV };
  for (const k of PASSED_ENV) if (input.env[k] !== undefined) env[k] = input.env[k];
  const results: HermeticResult[] = [];
  for (const m of userMappings(config)) {
    if (m.mapping.kind !== "hermetic_metrics") continue;
    const user = m.mapping.systemUser;
    const file = join(input.textfileDir, `signstar-${user}.prom`);
    let body = "";
    let reason: string | undefined;
    const entry = await lookupUser(user);
    if (!entry) reason = `the user "${user}" does not exist`;
    else {
      const r = await run(
        ["setpriv", `--reuid=${entry.uid}`, `--regid=${entry.gid}`, "--init-groups", "--", ...input.collector, "--config", path],
        { env, timeoutMs: input.timeoutMs ?? 120_000, maxOutput: MAX_OUTPUT },
      );
      if (r.code === 0) body = r.stdout.toString("utf8");
      else reason = `collector exited with ${r.code ?? r.signal ?? "?"}: ${r.stderr.trim().split("\n").pop() ?? ""}`.slice(0, 500);
    }
    await writeFileAtomic(file, body + status(user, reason === undefined, input.now()), { mode: 0o644, uid: 0, gid: 0 });
    results.push({ user, file, ok: reason === undefined, ...(reason !== undefined ? { reason } : {}) });
  }
  return results;
}
