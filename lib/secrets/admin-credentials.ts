/**
 * The administrative credentials of the HSM backends and their TOML form (Signstar's
 * `signstar-config/tests/fixtures/admin-creds-simple.toml`, archlinux/signstar d6ad4e9).
 *
 * NetHSM part, exactly Signstar's `admin-credentials.toml` (top-level keys):
 *   iteration, backup_passphrase, unlock_passphrase, [[administrators]] name/passphrase,
 *   [[namespace_administrators]] name/passphrase
 * PKCS#11 part (ours): [[pkcs11_tokens]] token = { label = "…" } | { serial = "…" }, so_pin = "…".
 * Only Security Officer PINs are admin secrets: a token's user PIN is rotated by signstar-configure and stored
 * per signing user as a non-admin secret.
 *
 * Values of `AdminCredentials` only come out of `parseAdminCredentials`, `adminCredentials` or
 * `generateAdminCredentials`, so holders may trust every rule below. Error messages never contain a secret.
 */
import { stringify, parse as parseToml, TomlError } from "smol-toml";
import type { Config, NetHsmUserId, TokenSelector } from "../config/model.js";
import { netHsmUserId, parseTokenSelector, systemWideUserId, namespaceOf } from "../config/primitives.js";
import { ConfigError, Problems } from "../config/problems.js";
import { TableReader, complete, int, list, prim, str, type Parser } from "../config/reader.js";
import { generatePassphrase } from "./passphrase.js";

/** Signstar's minimum length of every admin passphrase, in bytes (UTF-8). Also applied to SO PINs. */
export const MIN_PASSPHRASE_BYTES = 10;
/** Our upper bound for one passphrase or PIN (PKCS#11 tokens usually allow at most 255). */
export const MAX_PASSPHRASE_BYTES = 255;
/** Length of generated passphrases and PINs: 32 characters of [A-Za-z0-9], about 190 bits. */
export const GENERATED_PASSPHRASE_LENGTH = 32;
/** Upper bound of an admin credentials document (TOML text). */
export const MAX_ADMIN_CREDENTIALS_BYTES = 64 * 1024;
/** Upper bound of administrators, namespace administrators and tokens, each. */
export const MAX_ADMIN_ENTRIES = 256;
/** The default top-level NetHSM administrator that must always exist. */
export const DEFAULT_ADMIN = "admin";

export interface NamedPassphrase {
  readonly name: NetHsmUserId;
  readonly passphrase: string;
}

export interface NetHsmAdminCredentials {
  readonly backupPassphrase: string;
  readonly unlockPassphrase: string;
  /** System-wide R-Administrators; one is named `admin`. */
  readonly administrators: readonly NamedPassphrase[];
  /** N-Administrators (`ns~name`). */
  readonly namespaceAdministrators: readonly NamedPassphrase[];
}

export interface Pkcs11TokenAdminCredentials {
  readonly token: TokenSelector;
  /** The token's Security Officer PIN. */
  readonly soPin: string;
}

export interface AdminCredentials {
  /** The config iteration these credentials belong to. */
  readonly iteration: number;
  readonly nethsm?: NetHsmAdminCredentials;
  /** One entry per PKCS#11 token with an admin mapping (empty or absent when there is no PKCS#11 backend). */
  readonly pkcs11Tokens?: readonly Pkcs11TokenAdminCredentials[];
}

const ORIGIN = "admin credentials";
const MAX_ITERATION = 0xffff_ffff;

function tokenName(token: TokenSelector): string {
  return "label" in token ? `label "${token.label}"` : `serial "${token.serial}"`;
}

function sameToken(a: TokenSelector, b: TokenSelector): boolean {
  return "label" in a ? "label" in b && a.label === b.label : "serial" in b && a.serial === b.serial;
}

/** Checks one passphrase's length; `subject` is Signstar's wording ("user admin", "backups", "unlocking"). */
function checkPassphrase(problems: Problems, location: string, subject: string, passphrase: string, what = "passphrase"): void {
  const bytes = Buffer.byteLength(passphrase, "utf8");
  if (bytes < MIN_PASSPHRASE_BYTES) {
    problems.add(location, `The ${what} for ${subject} is too short (should be at least ${MIN_PASSPHRASE_BYTES} characters)`);
  } else if (bytes > MAX_PASSPHRASE_BYTES) {
    problems.add(location, `The ${what} for ${subject} is too long (should be at most ${MAX_PASSPHRASE_BYTES} bytes)`);
  }
}

/** Validates a model value; returns the list of problems (empty when valid). Signstar's rules plus ours. */
export function adminCredentialsProblems(creds: AdminCredentials): Problems {
  const problems = new Problems();
  if (!Number.isInteger(creds.iteration) || creds.iteration < 0 || creds.iteration > MAX_ITERATION) {
    problems.add("iteration", `${creds.iteration} is out of range (0 to ${MAX_ITERATION})`);
  }
  const n = creds.nethsm;
  const tokens = creds.pkcs11Tokens ?? [];
  if (n === undefined && tokens.length === 0) {
    problems.add("(top level)", "neither NetHSM credentials nor [[pkcs11_tokens]] are present");
  }
  if (n !== undefined) {
    checkPassphrase(problems, "backup_passphrase", "backups", n.backupPassphrase);
    checkPassphrase(problems, "unlock_passphrase", "unlocking", n.unlockPassphrase);
    if (n.administrators.length === 0) {
      problems.add("administrators", "There is no top-level administrator but at least one is required");
    } else if (!n.administrators.some((a) => a.name === DEFAULT_ADMIN)) {
      problems.add("administrators", `The default top-level administrator "${DEFAULT_ADMIN}" is missing`);
    }
    const seen = new Set<string>();
    const entries: [string, readonly NamedPassphrase[], boolean][] = [
      ["administrators", n.administrators, false],
      ["namespace_administrators", n.namespaceAdministrators, true],
    ];
    for (const [key, list, namespaced] of entries) {
      if (list.length > MAX_ADMIN_ENTRIES) problems.add(key, `more than ${MAX_ADMIN_ENTRIES} entries`);
      list.forEach((a, i) => {
        const loc = `${key}[${i}]`;
        if (namespaced && namespaceOf(a.name) === undefined) {
          problems.add(`${loc}.name`, `the namespace administrator "${a.name}" has no namespace (use "namespace~name")`);
        }
        if (!namespaced && namespaceOf(a.name) !== undefined) {
          problems.add(`${loc}.name`, `the top-level administrator "${a.name}" must not have a namespace`);
        }
        if (seen.has(a.name)) problems.add(`${loc}.name`, `the duplicate administrator "${a.name}"`);
        seen.add(a.name);
        checkPassphrase(problems, `${loc}.passphrase`, `user ${a.name}`, a.passphrase);
      });
    }
  }
  if (tokens.length > MAX_ADMIN_ENTRIES) problems.add("pkcs11_tokens", `more than ${MAX_ADMIN_ENTRIES} entries`);
  tokens.forEach((t, i) => {
    const loc = `pkcs11_tokens[${i}]`;
    if (tokens.findIndex((o) => sameToken(o.token, t.token)) !== i) {
      problems.add(`${loc}.token`, `the duplicate token ${tokenName(t.token)}`);
    }
    checkPassphrase(problems, `${loc}.so_pin`, `token ${tokenName(t.token)}`, t.soPin, "SO PIN");
  });
  return problems;
}

/** Checks a model value (e.g. built by configure) and returns it, or throws ConfigError listing every problem. */
export function adminCredentials(creds: AdminCredentials): AdminCredentials {
  const problems = adminCredentialsProblems(creds);
  if (!problems.empty) throw ConfigError.fromProblems(ORIGIN, problems.list);
  return creds;
}

// ---------------------------------------------------------------- TOML

function namedParser(make: (s: string) => NetHsmUserId): Parser<NamedPassphrase> {
  return (v, loc, problems) => {
    const t = TableReader.open(v, loc, problems);
    if (t === undefined) return undefined;
    const name = t.required("name", prim(make));
    const passphrase = t.required("passphrase", str);
    t.finish();
    return name === undefined || passphrase === undefined ? undefined : { name, passphrase };
  };
}

const parseTokenEntry: Parser<Pkcs11TokenAdminCredentials> = (v, loc, problems) => {
  const t = TableReader.open(v, loc, problems);
  if (t === undefined) return undefined;
  const token = t.required("token", parseTokenSelector);
  const soPin = t.required("so_pin", str);
  t.finish();
  return token === undefined || soPin === undefined ? undefined : { token, soPin };
};

const NETHSM_KEYS = ["backup_passphrase", "unlock_passphrase", "administrators", "namespace_administrators"] as const;

/**
 * Parses and validates an admin credentials document. Throws ConfigError (exit code Config) listing every
 * problem with its location; TOML syntax errors report line and column only (never the offending text).
 */
export function parseAdminCredentials(text: string, origin: string = ORIGIN): AdminCredentials {
  if (Buffer.byteLength(text, "utf8") > MAX_ADMIN_CREDENTIALS_BYTES) {
    throw new ConfigError(`${origin}: larger than ${MAX_ADMIN_CREDENTIALS_BYTES} bytes`);
  }
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      // The TomlError message embeds the offending lines, which may hold a passphrase: keep only its first line.
      const what = (error.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
      throw new ConfigError(`${origin}: invalid TOML at line ${error.line}, column ${error.column}: ${what}`);
    }
    throw new ConfigError(`${origin}: invalid TOML`);
  }
  const problems = new Problems();
  const t = TableReader.open(doc, "", problems);
  if (t === undefined) throw ConfigError.fromProblems(origin, problems.list);
  const iteration = t.required("iteration", int(0, MAX_ITERATION));
  const hasNetHsm = NETHSM_KEYS.some((k) => t.has(k));
  let nethsm: NetHsmAdminCredentials | undefined;
  if (hasNetHsm) {
    const backupPassphrase = t.required("backup_passphrase", str);
    const unlockPassphrase = t.required("unlock_passphrase", str);
    const administrators = complete(t.required("administrators", list(namedParser(systemWideUserId), { max: MAX_ADMIN_ENTRIES })));
    const nsAdmins = t.has("namespace_administrators")
      ? complete(t.required("namespace_administrators", list(namedParser(netHsmUserId), { max: MAX_ADMIN_ENTRIES })))
      : [];
    if (backupPassphrase !== undefined && unlockPassphrase !== undefined && administrators !== undefined && nsAdmins !== undefined) {
      nethsm = { backupPassphrase, unlockPassphrase, administrators, namespaceAdministrators: nsAdmins };
    }
  } else {
    for (const k of NETHSM_KEYS) t.take(k); // absent, but listed in "allowed here"
  }
  const tokens = t.has("pkcs11_tokens") ? complete(t.required("pkcs11_tokens", list(parseTokenEntry, { max: MAX_ADMIN_ENTRIES }))) : [];
  t.take("pkcs11_tokens");
  t.finish();
  if (!problems.empty || iteration === undefined || tokens === undefined || (hasNetHsm && nethsm === undefined)) {
    throw ConfigError.fromProblems(origin, problems.list);
  }
  const creds: AdminCredentials = {
    iteration,
    ...(nethsm !== undefined ? { nethsm } : {}),
    ...(tokens.length > 0 ? { pkcs11Tokens: tokens } : {}),
  };
  const semantic = adminCredentialsProblems(creds);
  if (!semantic.empty) throw ConfigError.fromProblems(origin, semantic.list);
  return creds;
}

/**
 * The TOML form: Signstar's key order (iteration, backup_passphrase, unlock_passphrase, then the arrays of
 * tables, a blank line before each `[[…]]`, trailing newline), so Signstar's fixture round-trips byte for byte.
 * An empty `namespace_administrators` is left out.
 */
export function serializeAdminCredentials(creds: AdminCredentials): string {
  const doc: Record<string, unknown> = { iteration: creds.iteration };
  const n = creds.nethsm;
  if (n !== undefined) {
    doc["backup_passphrase"] = n.backupPassphrase;
    doc["unlock_passphrase"] = n.unlockPassphrase;
    doc["administrators"] = n.administrators.map((a) => ({ name: a.name, passphrase: a.passphrase }));
    if (n.namespaceAdministrators.length > 0) {
      doc["namespace_administrators"] = n.namespaceAdministrators.map((a) => ({ name: a.name, passphrase: a.passphrase }));
    }
  }
  if (creds.pkcs11Tokens !== undefined && creds.pkcs11Tokens.length > 0) {
    doc["pkcs11_tokens"] = creds.pkcs11Tokens.map((t) => ({
      token: "label" in t.token ? { label: t.token.label } : { serial: t.token.serial },
      so_pin: t.soPin,
    }));
  }
  const text = stringify(doc);
  return text.endsWith("\n") ? text : `${text}\n`;
}

// ---------------------------------------------------------------- generation

/** Which admin credentials a configuration needs. */
export interface AdminCredentialsSpec {
  readonly iteration: number;
  /** NetHSM administrators (system-wide and `ns~name`); `admin` is added when missing. */
  readonly nethsm?: { readonly administrators: readonly NetHsmUserId[] };
  readonly pkcs11Tokens?: readonly TokenSelector[];
}

/** The admin credentials spec of a configuration: its NetHSM admin mappings and PKCS#11 admin tokens. */
export function adminCredentialsSpec(config: Config): AdminCredentialsSpec {
  const nethsmAdmins = (config.nethsm?.mappings ?? []).flatMap((m) => (m.kind === "admin" ? [m.backendUser] : []));
  const tokens = (config.pkcs11?.mappings ?? []).flatMap((m) => (m.kind === "admin" ? [m.token] : []));
  return {
    iteration: config.system.iteration,
    ...(config.nethsm !== undefined ? { nethsm: { administrators: nethsmAdmins } } : {}),
    ...(config.pkcs11 !== undefined ? { pkcs11Tokens: tokens } : {}),
  };
}

/**
 * Fresh admin credentials for `spec` with random passphrases/PINs (32 × [A-Za-z0-9]). With `previous`, every
 * passphrase of a user/token that is still wanted is kept (so an existing HSM stays accessible) and only new
 * entries get new ones; entries no longer in `spec` are dropped.
 */
export function generateAdminCredentials(spec: AdminCredentialsSpec, previous?: AdminCredentials): AdminCredentials {
  const fresh = (): string => generatePassphrase(GENERATED_PASSPHRASE_LENGTH);
  let nethsm: NetHsmAdminCredentials | undefined;
  if (spec.nethsm !== undefined) {
    const prev = previous?.nethsm;
    const known = new Map<string, string>();
    for (const a of [...(prev?.administrators ?? []), ...(prev?.namespaceAdministrators ?? [])]) known.set(a.name, a.passphrase);
    const names = [...new Set<string>([DEFAULT_ADMIN, ...spec.nethsm.administrators])].map((s) => netHsmUserId(s));
    const entry = (name: NetHsmUserId): NamedPassphrase => ({ name, passphrase: known.get(name) ?? fresh() });
    nethsm = {
      backupPassphrase: prev?.backupPassphrase ?? fresh(),
      unlockPassphrase: prev?.unlockPassphrase ?? fresh(),
      administrators: names.filter((n) => namespaceOf(n) === undefined).map(entry),
      namespaceAdministrators: names.filter((n) => namespaceOf(n) !== undefined).map(entry),
    };
  }
  const tokens = (spec.pkcs11Tokens ?? []).map((token) => ({
    token,
    soPin: previous?.pkcs11Tokens?.find((t) => sameToken(t.token, token))?.soPin ?? fresh(),
  }));
  return adminCredentials({
    iteration: spec.iteration,
    ...(nethsm !== undefined ? { nethsm } : {}),
    ...(tokens.length > 0 ? { pkcs11Tokens: tokens } : {}),
  });
}

/** The SO PIN of `token`, or undefined when the credentials have none for it. */
export function soPinFor(creds: AdminCredentials, token: TokenSelector): string | undefined {
  return creds.pkcs11Tokens?.find((t) => sameToken(t.token, token))?.soPin;
}
