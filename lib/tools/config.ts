/**
 * signstar-config: `check` (summary of mappings per role, or every problem with its location) and `convert`
 * (native TOML for a Signstar-layout file). The logic belongs to the configuration (lib/config/tool.ts, which
 * the YAML reader extends); this is its executable's entry.
 */
import type { ConfigLocation } from "../config/load.js";
import { signstarConfigCommand, type ToolOutput } from "../config/tool.js";

export type { ToolOutput } from "../config/tool.js";

export function signstarConfig(command: "check" | "convert", location: ConfigLocation): Promise<ToolOutput> {
  return signstarConfigCommand(command, location);
}
