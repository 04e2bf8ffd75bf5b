/**
 * Lazy loader of the optional native SHA-512 addon (lib/signing/native/sha512, built by `npm run build:native`).
 * It wraps OpenSSL's assembly-accelerated SHA512_* and exports the state in the 208-byte request layout.
 * When the addon is missing or fails to load, callers fall back to the pure-JS hasher (identical bytes).
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Opaque handle of a native SHA512_CTX. */
export type NativeContext = object;

export interface NativeSha512 {
  create(): NativeContext;
  /** Hashes data[0, length). */
  update(ctx: NativeContext, data: Uint8Array, length: number): void;
  /** The state in the 208-byte layout. */
  state(ctx: NativeContext): Uint8Array;
  /** The OpenSSL version string the addon resolved its symbols against. */
  version(): string;
}

const ADDON = "sha512_state.node";
/** Relative to this module: the source tree (lib/signing/) and the compiled tree (dist/lib/signing/). */
const CANDIDATES = [
  `./native/sha512/build/Release/${ADDON}`,
  `../../../lib/signing/native/sha512/build/Release/${ADDON}`,
];

let cached: { addon: NativeSha512 | null; path: string | null; error: string | null } | undefined;

function isNativeSha512(m: unknown): m is NativeSha512 {
  if (typeof m !== "object" || m === null) return false;
  const r = m as Record<string, unknown>;
  return ["create", "update", "state", "version"].every((k) => typeof r[k] === "function");
}

function load(): { addon: NativeSha512 | null; path: string | null; error: string | null } {
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const rel of CANDIDATES) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    try {
      const m: unknown = require(path);
      if (isNativeSha512(m)) return { addon: m, path, error: null };
      errors.push(`${path}: unexpected exports`);
    } catch (e) {
      const code = e instanceof Error && "code" in e ? String((e as { code: unknown }).code) : "";
      if (code !== "MODULE_NOT_FOUND") errors.push(`${path}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
    }
  }
  return { addon: null, path: null, error: errors.length > 0 ? errors.join("; ") : "not built (run npm run build:native)" };
}

/** The native addon, or null when it is not available. Loaded once, on first use. */
export function nativeSha512(): NativeSha512 | null {
  cached ??= load();
  return cached.addon;
}

/** Where the addon was loaded from, or why not (for diagnostics and the benchmark). */
export function nativeSha512Status(): { loaded: boolean; path: string | null; error: string | null } {
  cached ??= load();
  return { loaded: cached.addon !== null, path: cached.path, error: cached.error };
}
