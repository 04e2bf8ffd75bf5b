import type { CommandSpec } from "../command.js";
import { CONFIG_OPTION, ENV_CONFIG, FILES_CONFIG } from "./common.js";

export const command = {
  name: "signstar-config",
  kind: "admin",
  summary: "check a Signstar configuration, or convert Signstar's own layouts (V4 YAML, released TOML) into the native one",
  description:
    "check prints a summary of the mappings per role, or every problem of the configuration with its location (exit 4). convert " +
    "prints the native TOML of a file in Signstar's layout (its V4 config.yaml or its released TOML), with warnings for rules " +
    "the native format adds. TOML and YAML are told apart by content, not by the file name.",
  synopsis: ["check|convert [--config FILE]"],
  options: [CONFIG_OPTION],
  subcommands: [
    { name: "check", summary: "summarise the mappings, or list every problem", synopsis: "check [--config FILE]", options: [CONFIG_OPTION], positionals: [] },
    {
      name: "convert",
      summary: "print the native TOML of a Signstar-layout file (V4 YAML or released TOML)",
      synopsis: "convert [--config FILE]",
      options: [CONFIG_OPTION],
      positionals: [],
    },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "Config"],
  files: FILES_CONFIG,
  environment: [ENV_CONFIG],
  examples: [
    { command: "signstar-config check", description: "check the configuration in use" },
    { command: "signstar-config convert --config signstar.toml > config.toml", description: "convert Signstar's layout" },
    { command: "signstar-config convert --config /etc/signstar/config.yaml > config.toml", description: "convert Signstar's V4 YAML" },
  ],
  seeAlso: ["signstar-configure-build(8)", "signstar-configure(8)"],
} as const satisfies CommandSpec;
