#!/usr/bin/env node
// Administrator commands (run locally, not a ForceCommand):
//   signstar-admin validate-backup [--passphrase-file FILE] BACKUP   offline NetHSM backup check (any user)
//   signstar-admin write-hermetic-metrics [--config FILE] [--textfile-dir DIR]   (root; systemd timer)
//   signstar-admin wireguard-keygen                                   (root; first-boot unit)
// Exit codes: README.md "Exit codes".
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { ExitCode } from "../lib/errors.js";
import { runMain } from "../lib/tools/main.js";
import { rootFromEnv } from "../lib/layout/host-layout.js";
import { usageError } from "../lib/tools/usage.js";

const program = "signstar-admin";
const synopsis =
  `${program} validate-backup [--passphrase-file FILE] BACKUP | ` +
  `${program} write-hermetic-metrics [--config FILE] [--textfile-dir DIR] | ${program} wireguard-keygen`;

runMain(program, async () => {
  const parsed = (() => {
    try {
      return parseArgs({
        options: {
          "passphrase-file": { type: "string" },
          config: { type: "string" },
          "textfile-dir": { type: "string" },
        },
        strict: true,
        allowPositionals: true,
      });
    } catch (e) {
      throw usageError(e, synopsis);
    }
  })();
  const [command, ...rest] = parsed.positionals;
  const args = parsed.values;
  const only = (allowed: readonly string[], positionals: number): void => {
    const extra = Object.keys(args).find((k) => !allowed.includes(k));
    if (extra !== undefined) throw usageError(new Error(`--${extra} does not apply to ${command}`), synopsis);
    if (rest.length !== positionals) throw usageError(new Error(`${command} takes ${positionals} argument(s)`), synopsis);
  };
  switch (command) {
    case "validate-backup": {
      only(["passphrase-file"], 1);
      const { formatReport, validateBackup } = await import("../lib/tools/validate-backup.js");
      const file = rest[0]!;
      const report = await validateBackup({ backupFile: file, ...(args["passphrase-file"] !== undefined ? { passphraseFile: args["passphrase-file"] } : {}) });
      process.stdout.write(formatReport(file, report));
      return ExitCode.Ok;
    }
    case "write-hermetic-metrics": {
      only(["config", "textfile-dir"], 0);
      const { writeHermeticMetrics, DEFAULT_TEXTFILE_DIR } = await import("../lib/tools/operator/hermetic-metrics.js");
      const script = join(dirname(process.argv[1] ?? "."), "signstar-download-metrics.js");
      const results = await writeHermeticMetrics({
        config: { ...(args.config !== undefined ? { path: args.config } : {}), env: process.env },
        textfileDir: args["textfile-dir"] ?? DEFAULT_TEXTFILE_DIR,
        collector: [process.execPath, script],
        env: process.env,
        now: () => new Date(),
      });
      for (const r of results) process.stdout.write(`${r.user}: ${r.ok ? "ok" : `failed (${r.reason ?? "?"})`} -> ${r.file}\n`);
      return results.every((r) => r.ok) ? ExitCode.Ok : ExitCode.Backend;
    }
    case "wireguard-keygen": {
      only([], 0);
      const { wireGuardKeygen } = await import("../lib/tools/operator/wireguard-keygen.js");
      const root = rootFromEnv(process.env);
      const r = await wireGuardKeygen(root !== undefined ? { root } : {});
      process.stdout.write(`${r.created ? "created" : "kept"} the WireGuard key pair in ${r.dir}; public key ${r.publicKey}\n`);
      return ExitCode.Ok;
    }
    default:
      throw usageError(new Error(command === undefined ? "missing command" : `unknown command "${command}"`), synopsis);
  }
});
