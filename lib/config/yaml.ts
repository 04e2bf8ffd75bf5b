/**
 * Reading YAML configuration text into plain values (tables with a null prototype, arrays, strings, numbers,
 * booleans, null) for the strict readers of ./reader.ts. Signstar's V4 configuration is YAML read with
 * serde_saphyr (`signstar-config/src/config/file/mod.rs` in archlinux/signstar), a YAML 1.2 parser; the traps YAML
 * has and TOML lacks are each handled here on purpose:
 *
 * - implicit types: the YAML 1.2 core schema, so `on`, `no`, `yes` and `off` stay strings (YAML 1.1 made them
 *   booleans); an integer written other than in plain decimal (`010`, `0o17`, `0x1F`, `1e3`) is refused, because
 *   YAML 1.1 and 1.2 read `010` differently and a reader must not guess;
 * - duplicate keys: refused by the parser (`uniqueKeys`), with line and column;
 * - anchors and aliases: allowed (Signstar's parser allows them), but at most MAX_YAML_ALIASES aliases are
 *   followed and at most MAX_YAML_NODES values produced, so a "billion laughs" file cannot exhaust memory; a
 *   self-referencing alias is stopped by the depth bound;
 * - merge keys (`<<`): YAML 1.1 only; refused with a line saying so rather than read as an unknown key `<<`;
 * - explicit tags (`!!str`, `!foo`): refused, a configuration has no use for them;
 * - multi-document files (`---`): refused, a configuration is one document;
 * - keys that are not strings (`1:`, `true:`, `? [a]`): refused;
 * - folded and literal block scalars (`>-`, `>`, `|`): read as YAML defines them, except that the one final line
 *   break of clip chomping (`>` and `|`) is dropped, since no configuration value ends in a line break; Signstar's
 *   own fixtures fold SSH keys with `>-`, which yields the one-line key, and `>` now yields the same.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Document, type YAMLError } from "yaml";
import type { Problems } from "./problems.js";
import { childLocation } from "./reader.js";

/** Most aliases followed in one file. */
export const MAX_YAML_ALIASES = 100;
/** Most values (scalars, tables, arrays) produced from one file, aliases expanded. */
export const MAX_YAML_NODES = 100_000;
/** Deepest nesting of tables and arrays. */
export const MAX_YAML_DEPTH = 32;

/** `line L, column C` of a parser error (the same form as TOML errors), or `(file)`. */
function errorLocation(e: YAMLError): string {
  const pos = e.linePos?.[0];
  return pos === undefined ? "(file)" : `line ${pos.line}, column ${pos.col}`;
}

/** The parser's message without its position suffix and source excerpt. */
function errorMessage(e: YAMLError): string {
  const first = e.message.split("\n", 1)[0]!;
  return first.replace(/ at line \d+, column \d+:?$/, "");
}

const PLAIN_DECIMAL = /^-?(0|[1-9][0-9]*)$/;

class Walker {
  private aliases = 0;
  private nodes = 0;
  private aliasesReported = false;
  private nodesReported = false;

  constructor(
    private readonly doc: Document.Parsed,
    private readonly problems: Problems,
  ) {}

  walk(node: unknown, loc: string, depth: number): unknown {
    const where = loc || "(top level)";
    if (node === null || node === undefined) return null;
    if (depth > MAX_YAML_DEPTH) {
      this.problems.add(where, `nested deeper than ${MAX_YAML_DEPTH} levels`);
      return undefined;
    }
    if (++this.nodes > MAX_YAML_NODES) {
      if (!this.nodesReported) this.problems.add(where, `more than ${MAX_YAML_NODES} values (aliases expanded)`);
      this.nodesReported = true;
      return undefined;
    }
    if (isAlias(node)) {
      if (++this.aliases > MAX_YAML_ALIASES) {
        if (!this.aliasesReported) this.problems.add(where, `more than ${MAX_YAML_ALIASES} aliases`);
        this.aliasesReported = true;
        return undefined;
      }
      const target = node.resolve(this.doc);
      if (target === undefined) {
        this.problems.add(where, `the alias *${node.source} has no anchor before it`);
        return undefined;
      }
      return this.walk(target, loc, depth + 1);
    }
    const tagged = node as { tag?: string };
    if (tagged.tag !== undefined) {
      this.problems.add(where, `the YAML tag ${tagged.tag.replace(/^tag:yaml\.org,2002:/, "!!")} is not used in a configuration; remove it`);
      return undefined;
    }
    if (isScalar(node)) {
      const value = node.value;
      if (typeof value === "number" && Number.isInteger(value) && node.type === "PLAIN" && !PLAIN_DECIMAL.test(node.source ?? "")) {
        this.problems.add(
          where,
          `the number ${node.source} is not written in plain decimal (YAML 1.1 and 1.2 read 010, 0o17 or 0x1F differently); write ${value}`,
        );
        return undefined;
      }
      if (typeof value === "string" && (node.type === "BLOCK_FOLDED" || node.type === "BLOCK_LITERAL")) return value.replace(/\n$/, "");
      if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
      this.problems.add(where, "unsupported value");
      return undefined;
    }
    if (isSeq(node)) return node.items.map((item, i) => this.walk(item, `${loc}[${i}]`, depth + 1));
    if (isMap(node)) {
      const table: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = pair.key;
        if (!isScalar(key) || typeof key.value !== "string" || (key as { tag?: string }).tag !== undefined) {
          const shown = isScalar(key) ? String(key.source ?? key.value) : "a table or array";
          this.problems.add(where, `the key ${shown} is not a string (quote it if it is meant as one)`);
          continue;
        }
        if (key.value === "<<" && key.type === "PLAIN") {
          this.problems.add(childLocation(loc, key.value), "merge keys (<<) are YAML 1.1, not YAML 1.2; write the keys out");
          continue;
        }
        table[key.value] = this.walk(pair.value, childLocation(loc, key.value), depth + 1);
      }
      return table;
    }
    this.problems.add(where, "unsupported YAML node");
    return undefined;
  }
}

/**
 * Parses YAML text as one document (YAML 1.2 core schema) into plain values; records located problems and returns
 * undefined if there is any.
 */
export function parseYamlText(text: string, problems: Problems): unknown {
  const before = problems.list.length;
  const docs = parseAllDocuments(text, {
    version: "1.2",
    schema: "core",
    uniqueKeys: true,
    merge: false,
    strict: true,
    prettyErrors: true,
    stringKeys: false,
  });
  if (docs.length === 0) {
    problems.add("(file)", "empty: no YAML document");
    return undefined;
  }
  if (docs.length > 1) {
    problems.add("(file)", `${docs.length} YAML documents (separated by ---); a configuration is one document`);
    return undefined;
  }
  const doc = docs[0]!;
  for (const e of [...doc.errors, ...doc.warnings]) problems.add(errorLocation(e), `invalid YAML: ${errorMessage(e)}`);
  if (problems.list.length > before) return undefined;
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null && doc.contents.source === "")) {
    problems.add("(file)", "empty: no YAML document");
    return undefined;
  }
  const value = new Walker(doc, problems).walk(doc.contents, "", 0);
  return problems.list.length > before ? undefined : value;
}
