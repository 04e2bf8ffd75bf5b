/**
 * Which syntax a configuration file is written in, decided by its content (an operator may name a YAML file
 * `config.toml` or pass either through SIGNSTAR_CONFIG): the first line that is neither blank nor a comment.
 * TOML's first line is a table header (`[system]`) or `key = value`; YAML's is `key:`, `---`, a `%` directive
 * or a flow mapping. Only when the content says nothing (empty or comments only) does the file name decide.
 */
export type ConfigFormat = "toml" | "yaml";

const TOML_KEY_VALUE = /^\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+))*\s*=/;

export function detectFormat(text: string, fileName = ""): ConfigFormat {
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\uFEFF/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) return "toml";
    if (TOML_KEY_VALUE.test(line)) return "toml";
    return "yaml";
  }
  return /\.ya?ml$/i.test(fileName) ? "yaml" : "toml";
}
