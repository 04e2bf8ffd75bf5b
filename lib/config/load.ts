/** Finding, reading and parsing the configuration file (native layout, or Signstar's layout converted). */
import { open } from "node:fs/promises";
import { parse as parseToml, TomlError } from "smol-toml";
import { underRoot } from "../layout/host-layout.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import type { Config } from "./model.js";
import { readNative } from "./native.js";
import { assemble } from "./parts.js";
import { ConfigError, Problems, type Problem } from "./problems.js";
import { convertSignstar, isSignstarLayout, type Conversion } from "./signstar.js";
import { validateParts } from "./validate.js";

/** Search order when neither `--config` nor `SIGNSTAR_CONFIG` is given (Signstar's TOML-era code order). */
export const DEFAULT_CONFIG_PATHS = [
  "/etc/signstar/config.toml",
  "/run/signstar/config.toml",
  "/usr/local/share/signstar/config.toml",
  "/usr/share/signstar/config.toml",
] as const;

/** Environment variable naming the configuration file. */
export const CONFIG_ENV = "SIGNSTAR_CONFIG";
/** Largest configuration file read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Where to look: explicit path (`--config`) > `env.SIGNSTAR_CONFIG` > DEFAULT_CONFIG_PATHS below `root` (default `/`). */
export interface ConfigLocation {
  readonly path?: string | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Prefix for the default paths only (tests, image builds); explicit paths are used as given. */
  readonly root?: string | undefined;
}

async function isRegularFile(p: string): Promise<boolean> {
  try {
    const handle = await open(p, "r");
    try {
      return (await handle.stat()).isFile();
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

/** The configuration file to use; throws ConfigError naming every path searched if there is none. */
export async function findConfigFile(opts: ConfigLocation = {}): Promise<string> {
  if (opts.path !== undefined) return opts.path;
  const fromEnv = opts.env?.[CONFIG_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const candidates = DEFAULT_CONFIG_PATHS.map((p) => underRoot(opts.root, p));
  for (const candidate of candidates) {
    if (await isRegularFile(candidate)) return candidate;
  }
  throw new ConfigError(`no configuration file found (searched ${candidates.join(", ")}; set --config or ${CONFIG_ENV})`);
}

/** Parses TOML text, or records one located problem. */
function parseTomlText(text: string, problems: Problems): unknown {
  if (text.length > MAX_CONFIG_BYTES) {
    problems.add("(file)", `larger than ${MAX_CONFIG_BYTES} bytes`);
    return undefined;
  }
  try {
    return parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n", 1)[0]!.replace(/^Invalid TOML document: /, "");
      problems.add(`line ${e.line}, column ${e.column}`, `invalid TOML: ${first}`);
      return undefined;
    }
    throw e;
  }
}

export type ParsedConfig =
  | { readonly layout: "native"; readonly config: Config }
  | { readonly layout: "signstar"; readonly config: Config; readonly conversion: Conversion };

/**
 * Parses a configuration and reports every problem. For Signstar's layout the result also carries the conversion;
 * problems of the converted configuration (native rules Signstar lacks) are returned, not thrown, so `convert`
 * can still print the result.
 */
export function parseAnyConfig(text: string, origin: string): ParsedConfig {
  const problems = new Problems();
  const root = parseTomlText(text, problems);
  if (!problems.empty) throw ConfigError.fromProblems(origin, problems.list);
  if (isSignstarLayout(root)) {
    const result = convertSignstar(root);
    if ("rejected" in result) throw ConfigError.fromProblems(origin, result.rejected);
    return { layout: "signstar", config: result.config, conversion: result };
  }
  const parts = readNative(root, problems);
  const all: Problem[] = [...problems.list, ...validateParts(parts)];
  const config = all.length === 0 ? assemble(parts) : undefined;
  if (config === undefined) throw ConfigError.fromProblems(origin, all.length > 0 ? all : [{ location: "(file)", message: "incomplete configuration" }]);
  return { layout: "native", config };
}

/** Parses and validates a configuration (either layout); throws ConfigError listing all problems. */
export function parseConfig(text: string, origin: string): Config {
  const parsed = parseAnyConfig(text, origin);
  if (parsed.layout === "signstar" && parsed.conversion.problems.length > 0) {
    throw ConfigError.fromProblems(origin, parsed.conversion.problems);
  }
  return parsed.config;
}

/** Reads a file of at most MAX_CONFIG_BYTES as UTF-8 (lib/os/read-file.ts; a link the operator made is followed). */
export async function readConfigText(file: string): Promise<string> {
  let data: Buffer;
  try {
    ({ data } = await readCheckedFile(file, { what: "the configuration file", maxBytes: MAX_CONFIG_BYTES, followSymlinks: true }));
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    const message = e.problem.kind === "open" ? `cannot read the configuration file ${file}: ${e.problem.code ?? "error"}` : e.message;
    throw new ConfigError(message, [], { cause: e });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(data);
  } catch {
    throw new ConfigError(`the configuration file ${file} is not valid UTF-8`);
  }
}

/** Finds, reads and parses the configuration. */
export async function loadConfig(opts: ConfigLocation = {}): Promise<{ config: Config; path: string }> {
  const file = await findConfigFile(opts);
  const text = await readConfigText(file);
  return { config: parseConfig(text, file), path: file };
}
