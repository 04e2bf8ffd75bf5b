/** Finding, reading and parsing the configuration file (native layout, or Signstar's layout converted). */
import { oneLine } from "../errors.js";
import { open } from "node:fs/promises";
import { parse as parseToml, TomlError } from "smol-toml";
import { underRoot } from "../layout/host-layout.js";
import { FileReadError, TrustError, checkRootControlledDirs, readCheckedFile } from "../os/read-file.js";
import { detectFormat } from "./format.js";
import type { Config } from "./model.js";
import { readNative } from "./native.js";
import { assemble } from "./parts.js";
import { ConfigError, Problems, type Problem } from "./problems.js";
import { convertSignstar, isSignstarLayout, type Conversion } from "./signstar.js";
import { convertSignstarYaml } from "./signstar-yaml.js";
import { validateParts } from "./validate.js";
import { parseYamlText } from "./yaml.js";

/**
 * Directories searched, highest priority first: Signstar's TOML-era code order (`signstar-common/src/config.rs`
 * `get_config_file`). Signstar's YAML era (`signstar-config/src/config/file/mod.rs` `list_config_dirs`) searches
 * /usr/share, /run and /etc for config.yaml and documents /etc as the strongest override, so both names are looked
 * for in every directory of this order.
 */
export const DEFAULT_CONFIG_DIRS = ["/etc/signstar", "/run/signstar", "/usr/local/share/signstar", "/usr/share/signstar"] as const;
/** The file names looked for in each directory; a directory holding both is resolved by `loadConfig`. */
export const CONFIG_FILE_NAMES = ["config.toml", "config.yaml"] as const;
/** Every path searched, in order. */
export const DEFAULT_CONFIG_PATHS: readonly string[] = DEFAULT_CONFIG_DIRS.flatMap((d) => CONFIG_FILE_NAMES.map((n) => `${d}/${n}`));

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
  /**
   * false only for `signstar-config check`, which validates content for anyone: every other reader requires a
   * configuration that root owns and nobody else can write, in root-controlled directories (issue: a writable
   * configuration names the PKCS#11 module root loads, i.e. it is root code execution).
   */
  readonly trusted?: boolean | undefined;
  /** Receives the note when a directory holds both config.toml and config.yaml (default: a line on stderr). */
  readonly note?: ((line: string) => void) | undefined;
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

/**
 * The configuration file(s) to use: the explicit one, or the first directory of the search holding config.toml
 * or config.yaml (`twin` is the YAML file when the directory holds both). Throws ConfigError naming every path
 * searched if there is none.
 */
export async function findConfigFiles(opts: ConfigLocation = {}): Promise<{ path: string; twin?: string }> {
  if (opts.path !== undefined) return { path: opts.path };
  const fromEnv = opts.env?.[CONFIG_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return { path: fromEnv };
  for (const dir of DEFAULT_CONFIG_DIRS) {
    const [toml, yaml] = CONFIG_FILE_NAMES.map((n) => underRoot(opts.root, `${dir}/${n}`)) as [string, string];
    const [hasToml, hasYaml] = await Promise.all([isRegularFile(toml), isRegularFile(yaml)]);
    if (hasToml && hasYaml) return { path: toml, twin: yaml };
    if (hasToml) return { path: toml };
    if (hasYaml) return { path: yaml };
  }
  const candidates = DEFAULT_CONFIG_DIRS.map((d) => underRoot(opts.root, `${d}/${CONFIG_FILE_NAMES[0]}`));
  throw new ConfigError(
    `no configuration file found (searched ${candidates.join(", ")}, each also as ${CONFIG_FILE_NAMES[1]}; set --config or ${CONFIG_ENV})`,
  );
}

/** The configuration file to use (the TOML one where a directory holds both); see findConfigFiles. */
export async function findConfigFile(opts: ConfigLocation = {}): Promise<string> {
  return (await findConfigFiles(opts)).path;
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

export type Layout = "native" | "signstar" | "signstar-yaml";

export type ParsedConfig =
  | { readonly layout: "native"; readonly config: Config }
  | { readonly layout: "signstar" | "signstar-yaml"; readonly config: Config; readonly conversion: Conversion };

/**
 * Parses a configuration and reports every problem. For Signstar's layout the result also carries the conversion;
 * problems of the converted configuration (native rules Signstar lacks) are returned, not thrown, so `convert`
 * can still print the result.
 */
export function parseAnyConfig(text: string, origin: string): ParsedConfig {
  const problems = new Problems();
  if (detectFormat(text, origin) === "yaml") {
    if (text.length > MAX_CONFIG_BYTES) problems.add("(file)", `larger than ${MAX_CONFIG_BYTES} bytes`);
    const doc = problems.empty ? parseYamlText(text, problems) : undefined;
    if (!problems.empty) throw ConfigError.fromProblems(origin, problems.list);
    const result = convertSignstarYaml(doc);
    if ("rejected" in result) throw ConfigError.fromProblems(origin, result.rejected);
    return { layout: "signstar-yaml", config: result.config, conversion: result };
  }
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
  if (parsed.layout !== "native" && parsed.conversion.problems.length > 0) {
    throw ConfigError.fromProblems(origin, parsed.conversion.problems);
  }
  return parsed.config;
}

/** Reads a file of at most MAX_CONFIG_BYTES as UTF-8 (lib/os/read-file.ts; a link the operator made is followed). */
export async function readConfigText(file: string, trusted = true): Promise<string> {
  let data: Buffer;
  try {
    if (trusted) await checkRootControlledDirs(file, "the configuration file");
    const ownership = trusted ? { owner: 0, clearBits: 0o022 } : {};
    ({ data } = await readCheckedFile(file, { what: "the configuration file", maxBytes: MAX_CONFIG_BYTES, followSymlinks: true, ...ownership }));
  } catch (e) {
    if (e instanceof TrustError) throw new ConfigError(e.message, [], { cause: e });
    if (!(e instanceof FileReadError)) throw e;
    const message = e.problem.kind === "open" ? `cannot read the configuration file ${file}: ${e.problem.reason}` : e.message;
    throw new ConfigError(message, [], { cause: e });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(data);
  } catch {
    throw new ConfigError(`the configuration file ${file} is not valid UTF-8`);
  }
}

/** The first path (`a.b[2].c`) where two values differ, or undefined if they are equal. */
export function firstDifference(a: unknown, b: unknown, at = ""): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) {
    return at || "(top level)";
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
    const d = firstDifference(ra[k], rb[k], at === "" ? k : `${at}.${k}`);
    if (d !== undefined) return d;
  }
  return undefined;
}

/**
 * Finds, reads and parses the configuration (any layout), without the native check of converted files. Where a
 * directory holds both config.toml and config.yaml, both are read: equal models use the TOML file and give a
 * note; different models are an error naming both.
 */
export async function locateConfig(opts: ConfigLocation = {}): Promise<{ parsed: ParsedConfig; path: string; note?: string }> {
  const { path, twin } = await findConfigFiles(opts);
  const trusted = opts.trusted ?? true;
  const parsed = parseAnyConfig(await readConfigText(path, trusted), path);
  if (twin === undefined) return { parsed, path };
  const other = parseAnyConfig(await readConfigText(twin, trusted), twin);
  const difference = firstDifference(parsed.config, other.config);
  if (difference !== undefined) {
    throw new ConfigError(
      `${path} and ${twin} are both present and describe different configurations (first difference: ${difference}); keep one of them`,
    );
  }
  return { parsed, path, note: `note: ${path} and ${twin} describe the same configuration; using ${path} (remove one of them)` };
}

/** Finds, reads and parses the configuration. */
export async function loadConfig(opts: ConfigLocation = {}): Promise<{ config: Config; path: string }> {
  const { parsed, path, note } = await locateConfig(opts);
  if (parsed.layout !== "native" && parsed.conversion.problems.length > 0) throw ConfigError.fromProblems(path, parsed.conversion.problems);
  if (note !== undefined) (opts.note ?? ((line: string) => void process.stderr.write(`${oneLine(line)}\n`)))(note);
  return { config: parsed.config, path };
}
