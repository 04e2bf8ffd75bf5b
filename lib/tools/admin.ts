/**
 * signstar-admin: the administrator's subcommands, each loaded only when asked for:
 * `validate-backup` (any user), `write-hermetic-metrics` (root; signstar-hermetic-metrics.timer),
 * `wireguard-keygen` (root; signstar-wireguard-keygen.service) and `log vkey|list|export` (any user).
 */
import { dirname, join } from "node:path";
import { loadConfig } from "../config/load.js";
import { ExitCode, SignstarError, UsageError } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import { FileReadError } from "../os/read-file.js";
import { readVerifierKeyFile } from "../tlog/key-file.js";

export interface AdminInput {
  readonly subcommand: "validate-backup" | "write-hermetic-metrics" | "wireguard-keygen" | "log";
  readonly options: {
    readonly "passphrase-file"?: string;
    readonly config?: string;
    readonly "textfile-dir"?: string;
    readonly key?: string;
    readonly user?: string;
    readonly since?: number;
    readonly limit?: number;
  };
  readonly positionals: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** SIGNSTAR_ROOT, if set. */
  readonly root: string | undefined;
  /** This executable (signstar-download-metrics.js lies next to it). */
  readonly executable: string;
  readonly out: (text: string) => void;
  /** A note that is not output (stderr). */
  readonly warn: (line: string) => void;
}

/** The configured log's verifier key, from the public file signstar-configure wrote. */
async function logVerifierKey(input: AdminInput): Promise<string> {
  const { config } = await loadConfig({ ...(input.options.config !== undefined ? { path: input.options.config } : {}), env: input.env });
  const setup = config.system.signingLog;
  if (setup === undefined) throw new SignstarError("the configuration does not enable the signing log (signing_log in [system])", ExitCode.Config);
  const path = hostLayout(input.root).signingLogVerifierKey;
  try {
    return await readVerifierKeyFile(path, setup.origin);
  } catch (error) {
    if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") {
      throw new SignstarError(`the signing log has no key yet (${path} is missing); run signstar-configure`, ExitCode.Config);
    }
    throw error;
  }
}

async function logCommand(input: AdminInput): Promise<number> {
  const [action, ...args] = input.positionals;
  const synopsis = "signstar-admin log vkey | log list [--key FPR] [--user NAME] [--since INDEX] [--limit N] | log export DIR";
  if (action !== "export" && args.length > 0) throw new UsageError(`log ${action ?? ""} takes no further argument`, synopsis);
  const vkey = await logVerifierKey(input);
  const dir = hostLayout(input.root).signingLogDir;
  const { exportLog, listLog } = await import("../admin/signing-log.js");
  switch (action) {
    case "vkey":
      input.out(`${vkey}\n`);
      return ExitCode.Ok;
    case "list": {
      const o = input.options;
      const r = await listLog(dir, vkey, {
        ...(o.key !== undefined ? { key: o.key } : {}),
        ...(o.user !== undefined ? { user: o.user } : {}),
        ...(o.since !== undefined ? { since: o.since } : {}),
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
      });
      input.out(r.lines.map((l) => `${l}\n`).join(""));
      if (r.next !== undefined) input.warn(`more entries match; continue with --since ${r.next}`);
      return ExitCode.Ok;
    }
    case "export": {
      if (args.length !== 1) throw new UsageError("log export takes one directory", synopsis);
      const size = await exportLog(dir, vkey, args[0]!);
      input.out(`exported the signing log (${size} entries, checkpoint verified) to ${args[0]!}\n`);
      return ExitCode.Ok;
    }
    default:
      throw new UsageError(`unknown log action ${JSON.stringify((action ?? "").slice(0, 40))}`, synopsis);
  }
}

/** Runs one subcommand; returns the exit code. */
export async function adminCommand(input: AdminInput): Promise<number> {
  switch (input.subcommand) {
    case "log":
      return logCommand(input);
    case "validate-backup": {
      const { formatReport, validateBackup } = await import("../admin/validate-backup.js");
      const file = input.positionals[0]!;
      const passphraseFile = input.options["passphrase-file"];
      const report = await validateBackup({ backupFile: file, ...(passphraseFile !== undefined ? { passphraseFile } : {}) });
      input.out(formatReport(file, report));
      return ExitCode.Ok;
    }
    case "write-hermetic-metrics": {
      const { writeHermeticMetrics } = await import("../admin/hermetic-metrics.js");
      const results = await writeHermeticMetrics({
        config: { ...(input.options.config !== undefined ? { path: input.options.config } : {}), env: input.env },
        textfileDir: input.options["textfile-dir"]!,
        collector: [process.execPath, join(dirname(input.executable), "signstar-download-metrics.js")],
        env: input.env,
        now: () => new Date(),
      });
      for (const r of results) input.out(`${r.user}: ${r.ok ? "ok" : `failed (${r.reason ?? "?"})`} -> ${r.file}\n`);
      return results.every((r) => r.ok) ? ExitCode.Ok : ExitCode.Backend;
    }
    case "wireguard-keygen": {
      const { wireGuardKeygen } = await import("../admin/wireguard.js");
      const r = await wireGuardKeygen(input.root !== undefined ? { root: input.root } : {});
      input.out(`${r.created ? "created" : "kept"} the WireGuard key pair in ${r.dir}; public key ${r.publicKey}\n`);
      return ExitCode.Ok;
    }
  }
}
