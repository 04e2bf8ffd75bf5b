import type { CommandSpec } from "../command.js";
import { CONFIG_OPTION, ENV_CONFIG, FILES_CONFIG } from "./common.js";

export const command = {
  name: "signstar-config",
  kind: "admin",
  summary: "check a Signstar configuration, or convert Signstar's own TOML layout into the native one",
  description:
    "check prints a summary of the mappings per role, or every problem of the configuration with its location (exit 4). convert " +
    "prints the native TOML of a file in Signstar's layout, with warnings for rules the native format adds.",
  synopsis: ["check|convert [--config FILE]"],
  options: [CONFIG_OPTION],
  subcommands: [
    { name: "check", summary: "summarise the mappings, or list every problem", synopsis: "check [--config FILE]", options: [CONFIG_OPTION], positionals: [] },
    { name: "convert", summary: "print the native TOML of a Signstar-layout file", synopsis: "convert [--config FILE]", options: [CONFIG_OPTION], positionals: [] },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "Config"],
  files: FILES_CONFIG,
  environment: [ENV_CONFIG],
  examples: [
    { command: "signstar-config check", description: "check the configuration in use" },
    { command: "signstar-config convert --config signstar.toml > config.toml", description: "convert Signstar's layout" },
  ],
  seeAlso: ["signstar-configure-build(8)", "signstar-configure(8)"],
} as const satisfies CommandSpec;
