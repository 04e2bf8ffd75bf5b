/**
 * signstar-config: `check` (summary of mappings per role, or every problem with its location), `convert`
 * (native TOML for a Signstar-layout file) and `log-key` (the signing log's verifier key). The logic of the first
 * two belongs to the configuration (lib/config/tool.ts, which the YAML reader extends); this is its executable's
 * entry.
 */
import { loadConfig, type ConfigLocation } from "../config/load.js";
import { signstarConfigCommand, type ToolOutput } from "../config/tool.js";
import { ExitCode, SignstarError } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import { FileReadError } from "../os/read-file.js";
import { readVerifierKeyFile } from "../tlog/key-file.js";

export type { ToolOutput } from "../config/tool.js";

export function signstarConfig(command: "check" | "convert", location: ConfigLocation): Promise<ToolOutput> {
  return signstarConfigCommand(command, location);
}

/**
 * `log-key`: the verifier key line (`<origin>+<key id>+<base64>`) of the configuration's signing log, from the
 * public file signstar-configure keeps next to the root-only key (any user may run it).
 */
export async function signingLogVerifierKey(location: ConfigLocation, root: string | undefined): Promise<string> {
  const { config } = await loadConfig(location);
  const setup = config.system.signingLog;
  if (setup === undefined) throw new SignstarError("the configuration does not enable the signing log (signing_log in [system])", ExitCode.Config);
  const path = hostLayout(root).signingLogVerifierKey;
  try {
    return `${await readVerifierKeyFile(path, setup.origin)}\n`;
  } catch (error) {
    if (error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT") {
      throw new SignstarError(`the signing log has no key yet (${path} is missing); run signstar-configure`, ExitCode.Config);
    }
    throw error;
  }
}
