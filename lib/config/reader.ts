/**
 * Strict reading of parsed TOML values: every table reports its unknown keys, every value its wrong type,
 * each problem with its location (`nethsm.mappings[3].signing.tag`). Parsers return undefined after recording a problem.
 */
import { attempt, type Problems } from "./problems.js";

export type Parser<T> = (value: unknown, location: string, problems: Problems) => T | undefined;
export type Table = Record<string, unknown>;

/** Longest string value accepted anywhere in a config. */
export const MAX_STRING = 64 * 1024;
/** Longest list accepted anywhere in a config. */
export const MAX_LIST = 10_000;

export function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

export function describe(v: unknown): string {
  if (typeof v === "string") return "a string";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number" || typeof v === "bigint") return Number.isInteger(v) || typeof v === "bigint" ? "an integer" : "a float";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (isTable(v)) return "a table";
  if (v === null) return "an empty value";
  return "an unsupported value";
}

export function childLocation(parent: string, key: string): string {
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return parent === "" ? k : `${parent}.${k}`;
}

export class TableReader {
  private readonly seen = new Set<string>();
  private constructor(
    readonly table: Table,
    readonly location: string,
    readonly problems: Problems,
  ) {}

  static open(value: unknown, location: string, problems: Problems): TableReader | undefined {
    if (!isTable(value)) {
      problems.add(location || "(top level)", `expected a table, found ${describe(value)}`);
      return undefined;
    }
    return new TableReader(value, location, problems);
  }

  keys(): string[] {
    return Object.keys(this.table);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.table, key);
  }

  at(key: string): string {
    return childLocation(this.location, key);
  }

  /** Marks a key as known without reading it. */
  take(key: string): unknown {
    this.seen.add(key);
    return this.has(key) ? this.table[key] : undefined;
  }

  required<T>(key: string, parse: Parser<T>): T | undefined {
    this.seen.add(key);
    if (!this.has(key)) {
      this.problems.add(this.at(key), "is required but missing");
      return undefined;
    }
    return parse(this.table[key], this.at(key), this.problems);
  }

  optional<T>(key: string, parse: Parser<T>): T | undefined {
    this.seen.add(key);
    if (!this.has(key)) return undefined;
    return parse(this.table[key], this.at(key), this.problems);
  }

  /** Reports every key that was not read (strictness). */
  finish(): void {
    const allowed = [...this.seen];
    for (const key of this.keys()) {
      if (!this.seen.has(key)) {
        this.problems.add(this.at(key), `unknown key (allowed here: ${allowed.join(", ") || "none"})`);
      }
    }
  }
}

export const str: Parser<string> = (v, loc, problems) => {
  if (typeof v !== "string") {
    problems.add(loc, `expected a string, found ${describe(v)}`);
    return undefined;
  }
  if (v.length > MAX_STRING) {
    problems.add(loc, `string longer than ${MAX_STRING} characters`);
    return undefined;
  }
  return v;
};

export function int(min: number, max: number): Parser<number> {
  return (v, loc, problems) => {
    if (typeof v !== "number" || !Number.isInteger(v)) {
      problems.add(loc, `expected an integer, found ${describe(v)}`);
      return undefined;
    }
    if (v < min || v > max) {
      problems.add(loc, `${v} is out of range (${min} to ${max})`);
      return undefined;
    }
    return v;
  };
}

/** A string run through a throwing constructor (InvalidValue becomes a problem). */
export function prim<T>(make: (s: string) => T): Parser<T> {
  return (v, loc, problems) => {
    const s = str(v, loc, problems);
    return s === undefined ? undefined : attempt(problems, loc, () => make(s));
  };
}

/** An array whose elements are parsed one by one (holes stay undefined so indexes keep matching the file). */
export function list<T>(
  element: Parser<T>,
  opts: { nonEmpty?: boolean; max?: number } = {},
): Parser<(T | undefined)[]> {
  const max = opts.max ?? MAX_LIST;
  return (v, loc, problems) => {
    if (!Array.isArray(v)) {
      problems.add(loc, `expected an array, found ${describe(v)}`);
      return undefined;
    }
    if (opts.nonEmpty === true && v.length === 0) {
      problems.add(loc, "must not be empty");
      return undefined;
    }
    if (v.length > max) {
      problems.add(loc, `more than ${max} entries`);
      return undefined;
    }
    return v.map((e, i) => element(e, `${loc}[${i}]`, problems));
  };
}

/** The defined elements of a parsed list, or undefined if any element failed. */
export function complete<T>(items: readonly (T | undefined)[] | undefined): T[] | undefined {
  if (items === undefined || items.some((x) => x === undefined)) return undefined;
  return items as T[];
}

/**
 * A table with exactly one key naming a variant (externally tagged enum, e.g. `{ signing = {...} }`).
 * Returns the variant name and its location, or undefined after recording a problem.
 */
export function variant<K extends string>(
  v: unknown,
  loc: string,
  problems: Problems,
  kinds: readonly K[],
): { kind: K; value: unknown; location: string } | undefined {
  if (!isTable(v)) {
    problems.add(loc, `expected a table with one of ${kinds.join(", ")}; found ${describe(v)}`);
    return undefined;
  }
  const keys = Object.keys(v);
  if (keys.length !== 1) {
    problems.add(
      loc,
      keys.length === 0
        ? `expected exactly one of ${kinds.join(", ")}; found none`
        : `expected exactly one of ${kinds.join(", ")}; found ${keys.join(", ")}`,
    );
    return undefined;
  }
  const key = keys[0]!;
  if (!(kinds as readonly string[]).includes(key)) {
    problems.add(childLocation(loc, key), `unknown kind (allowed here: ${kinds.join(", ")})`);
    return undefined;
  }
  return { kind: key as K, value: v[key], location: childLocation(loc, key) };
}
