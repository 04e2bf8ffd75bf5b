import type { CommandSpec } from "../command.js";
import { hostLayout } from "../../layout/host-layout.js";
import { CONFIG_OPTION, ENV_CONFIG, ENV_ROOT, FILES_CONFIG } from "./common.js";

export const command = {
  name: "signstar-config",
  kind: "admin",
  summary: "check a Signstar configuration, or convert Signstar's own layouts (V4 YAML, released TOML) into the native one",
  description:
    "check prints a summary of the mappings per role, or every problem of the configuration with its location (exit 4). convert " +
    "prints the native TOML of a file in Signstar's layout (its V4 config.yaml or its released TOML), with warnings for rules " +
    "the native format adds. TOML and YAML are told apart by content, not by the file name. log-key prints the verifier key line " +
    "(<origin>+<key id>+<base64>) of the signing log (signing_log in [system]), which signstar-configure made with the log's key.",
  synopsis: ["check|convert|log-key [--config FILE]"],
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
    {
      name: "log-key",
      summary: "print the signing log's verifier key line (made by signstar-configure)",
      synopsis: "log-key [--config FILE]",
      options: [CONFIG_OPTION],
      positionals: [],
    },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "Config"],
  files: [...FILES_CONFIG, { path: hostLayout().signingLogVerifierKey, description: "the signing log's verifier key (public; written by signstar-configure)" }],
  environment: [ENV_CONFIG, ENV_ROOT],
  examples: [
    { command: "signstar-config check", description: "check the configuration in use" },
    { command: "signstar-config convert --config signstar.toml > config.toml", description: "convert Signstar's layout" },
    { command: "signstar-config convert --config /etc/signstar/config.yaml > config.toml", description: "convert Signstar's V4 YAML" },
    { command: "signstar-config log-key > log.vkey", description: "the verifier key clients check the signing log with" },
  ],
  seeAlso: ["signstar-configure-build(8)", "signstar-configure(8)"],
} as const satisfies CommandSpec;
