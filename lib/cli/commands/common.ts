/** Option, environment and file entries several command tables share (paths from lib/layout, never spelled here). */
import { CONFIG_ENV, DEFAULT_CONFIG_DIRS, DEFAULT_CONFIG_PATHS } from "../../config/load.js";
import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec, OptionSpec } from "../command.js";

const live = hostLayout();

export const CONFIG_OPTION = {
  name: "config",
  short: "c",
  type: "string",
  value: "FILE",
  description:
    `the configuration file, native TOML or Signstar's V4 YAML told apart by content (default: ${CONFIG_ENV}, else config.toml ` +
    `or config.yaml in the first of ${DEFAULT_CONFIG_DIRS.join(", ")} holding one)`,
} as const satisfies OptionSpec;

/** The ForceCommands take --config without the short name (sshd passes no arguments; it is for local runs). */
export const TOOL_CONFIG_OPTION = {
  name: "config",
  type: "string",
  value: "FILE",
  description: CONFIG_OPTION.description,
} as const satisfies OptionSpec;

type Entry = CommandSpec["environment"][number];
type FileEntry = CommandSpec["files"][number];

export const ENV_CONFIG: Entry = { name: CONFIG_ENV, description: "the configuration file, when --config is not given" };
export const ENV_LOG_SOCKET: Entry = {
  name: "SIGNSTAR_LOG_SOCKET",
  description: "the datagram socket audit entries go to instead of /dev/log (set by the administrator, e.g. sshd SetEnv)",
};
export const ENV_ROOT: Entry = {
  name: "SIGNSTAR_ROOT",
  description: "a root prefix for host state (tests and image builds; only the administrator can set it for a ForceCommand)",
};
export const ENV_SSH_COMMAND: Entry = { name: "SSH_ORIGINAL_COMMAND", description: "the command the SSH client asked for (set by sshd), whitelisted" };
export const ENV_PKCS11: readonly Entry[] = [
  { name: "SOFTHSM2_CONF", description: "SoftHSMv2's configuration, read by the PKCS#11 module" },
  { name: "P11_KIT_SERVER_ADDRESS", description: `the p11-kit server p11-kit-client.so talks to (default unix:path=${live.p11KitSocket})` },
];

export const FILES_CONFIG: readonly FileEntry[] = DEFAULT_CONFIG_PATHS.map((path) => ({
  path,
  description: "the configuration, searched in this order (a directory holding both: they must agree, the TOML file is used)",
}));
export const FILE_SECRETS: FileEntry = {
  path: `${live.userState("<user>", "secrets")}/<backend-user>.{txt,creds}[.next]`,
  description: "the calling user's backend secrets (owner the user, mode 0600); .next while signstar-configure rotates one",
};

/** The size bound of an upload tool: --max-bytes N, else the administrator's environment variable, else the default. */
export function maxBytesOption(env: string, defaultBytes: number, limit: number, what: string) {
  return { name: "max-bytes", type: "integer", value: "N", default: defaultBytes, env, description: `the largest ${what} accepted, at most ${limit}` } as const satisfies OptionSpec;
}

export function maxBytesEnvironment(env: string): Entry {
  return { name: env, description: "the size bound when --max-bytes is not given (set by the administrator, e.g. sshd SetEnv)" };
}

/** The upload tools end an upload when the SSH session goes away (and on Ctrl-C in a local run). */
export const UPLOAD_ABORT_SIGNALS: readonly NodeJS.Signals[] = ["SIGHUP", "SIGTERM", "SIGINT", "SIGPIPE"];
