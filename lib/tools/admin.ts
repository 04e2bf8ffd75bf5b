/**
 * signstar-admin: the administrator's subcommands, each loaded only when asked for:
 * `validate-backup` (any user), `write-hermetic-metrics` (root; signstar-hermetic-metrics.timer) and
 * `wireguard-keygen` (root; signstar-wireguard-keygen.service).
 */
import { dirname, join } from "node:path";
import { ExitCode } from "../errors.js";

export interface AdminInput {
  readonly subcommand: "validate-backup" | "write-hermetic-metrics" | "wireguard-keygen";
  readonly options: { readonly "passphrase-file"?: string; readonly config?: string; readonly "textfile-dir"?: string };
  readonly positionals: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** SIGNSTAR_ROOT, if set. */
  readonly root: string | undefined;
  /** This executable (signstar-download-metrics.js lies next to it). */
  readonly executable: string;
  readonly out: (text: string) => void;
}

/** Runs one subcommand; returns the exit code. */
export async function adminCommand(input: AdminInput): Promise<number> {
  switch (input.subcommand) {
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
