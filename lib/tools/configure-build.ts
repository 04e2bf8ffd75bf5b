/**
 * signstar-configure-build: the root check (only --root and --dry-run may run unprivileged), the configuration
 * search (below --root too), then lib/host/configure-build.ts.
 */
import { loadConfig } from "../config/load.js";
import { ExitCode } from "../errors.js";
import { configureBuild, type ConfigureBuildResult } from "../host/configure-build.js";
import { HostError } from "../host/errors.js";

/** The root check of the executable: only --root and --dry-run may run unprivileged. */
export function requireRootUnlessRendering(root: string | undefined, dryRun: boolean): void {
  const rendering = (root !== undefined && root !== "" && root !== "/") || dryRun;
  if (!rendering && process.geteuid?.() !== 0) throw new HostError("This application must be run as root!", ExitCode.Denied);
}

export interface ConfigureBuildCommand {
  readonly configPath?: string;
  readonly root?: string;
  readonly binDir?: string;
  readonly dryRun: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly out: (line: string) => void;
}

/** The executable's whole logic: root check, config search/load (below --root too), configure. */
export async function configureBuildTool(cmd: ConfigureBuildCommand): Promise<ConfigureBuildResult> {
  requireRootUnlessRendering(cmd.root, cmd.dryRun);
  const { config } = await loadConfig({
    ...(cmd.configPath !== undefined ? { path: cmd.configPath } : {}),
    ...(cmd.root !== undefined ? { root: cmd.root } : {}),
    env: cmd.env,
  });
  return configureBuild({
    config,
    ...(cmd.root !== undefined ? { root: cmd.root } : {}),
    ...(cmd.binDir !== undefined ? { binDir: cmd.binDir } : {}),
    dryRun: cmd.dryRun,
    out: cmd.out,
  });
}
