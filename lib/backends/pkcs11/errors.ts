/**
 * Typed errors of the PKCS#11 backend. Every message is one line naming the module, token, key and
 * mechanism involved, and never a PIN. All carry exitCode Backend.
 */
import { ExitCode, SignstarError } from "../../errors.js";
import { ckrName, ckrOf, mechanismName } from "./pkcs11js.js";

/** What an operation was about; used to build messages. Never holds a secret. */
export interface OpContext {
  readonly module: string;
  /** e.g. `label "signstar"` or `serial "0123"`. */
  readonly token?: string;
  /** e.g. `label:signing1` or `id:01ab`. */
  readonly key?: string;
  readonly mechanism?: number;
}

export class Pkcs11Error extends SignstarError {
  /** The PKCS#11 return value name (`CKR_…`) when the module returned one. */
  readonly ckr: string | undefined;
  constructor(message: string, options?: { cause?: unknown; ckr?: string }) {
    super(message, ExitCode.Backend, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.ckr = options?.ckr;
  }
}
/** The module file is missing or cannot be loaded/initialized. */
export class Pkcs11ModuleError extends Pkcs11Error {}
export class Pkcs11TokenNotFoundError extends Pkcs11Error {}
export class Pkcs11KeyNotFoundError extends Pkcs11Error {}
/** Wrong PIN (CKR_PIN_INCORRECT) or a PIN the token rejects (length, format). */
export class Pkcs11PinError extends Pkcs11Error {
  readonly authenticationFailed: boolean = true;
}
/** CKR_PIN_LOCKED: too many wrong PINs; the security officer must reset it (another PIN will not help). */
export class Pkcs11PinLockedError extends Pkcs11PinError {
  override readonly authenticationFailed: boolean = false;
}
/** The module or token does not support the mechanism (CKR_MECHANISM_INVALID and friends). */
export class Pkcs11MechanismError extends Pkcs11Error {}
/** Bad arguments given to this backend (key ref syntax, digest size, certificate size …). */
export class Pkcs11UsageError extends Pkcs11Error {}

export function isP11KitClient(module: string): boolean {
  return /(^|\/)p11-kit-client\.so$/.test(module);
}

/** `module M, token T, key K` – the context part of a message. */
export function where(ctx: OpContext): string {
  const parts = [`module ${ctx.module}`];
  if (ctx.token !== undefined) parts.push(`token ${ctx.token}`);
  if (ctx.key !== undefined) parts.push(`key ${ctx.key}`);
  return parts.join(", ");
}

/** Turns anything a pkcs11js call threw into a typed Pkcs11Error (typed errors pass through). */
export function translate(e: unknown, op: string, ctx: OpContext): Pkcs11Error {
  if (e instanceof Pkcs11Error) return e;
  const code = ckrOf(e);
  if (code === undefined) {
    const detail = e instanceof Error ? e.message : String(e);
    return new Pkcs11Error(`PKCS#11 ${op} failed (${where(ctx)}): ${detail}`, { cause: e });
  }
  const name = ckrName(code);
  const opts = { cause: e, ckr: name };
  const mech = ctx.mechanism !== undefined ? mechanismName(ctx.mechanism) : undefined;
  switch (name) {
    case "CKR_PIN_INCORRECT":
      return new Pkcs11PinError(`wrong PIN (CKR_PIN_INCORRECT; ${where(ctx)})`, opts);
    case "CKR_PIN_LOCKED":
      return new Pkcs11PinLockedError(
        `the PIN is locked after too many wrong attempts (CKR_PIN_LOCKED; ${where(ctx)}); the security officer must reset it`,
        opts,
      );
    case "CKR_PIN_INVALID":
    case "CKR_PIN_LEN_RANGE":
    case "CKR_PIN_EXPIRED":
      return new Pkcs11PinError(`the token rejected the PIN (${name}; ${where(ctx)})`, opts);
    case "CKR_MECHANISM_INVALID":
    case "CKR_MECHANISM_PARAM_INVALID":
    case "CKR_KEY_TYPE_INCONSISTENT":
    case "CKR_KEY_FUNCTION_NOT_PERMITTED":
    case "CKR_FUNCTION_NOT_SUPPORTED": {
      const m = mech ?? "the mechanism";
      if (isP11KitClient(ctx.module) && ctx.mechanism !== undefined && mech !== undefined && /EDDSA|EDWARDS/.test(mech)) {
        return new Pkcs11MechanismError(
          `${m} is not available through p11-kit-client (${name}, ${where(ctx)}): p11-kit 0.24 does not forward EdDSA; use the module directly or an RSA/ECDSA key`,
          opts,
        );
      }
      return new Pkcs11MechanismError(`${m} is not supported by ${where(ctx)} (${name})`, opts);
    }
    case "CKR_CRYPTOKI_NOT_INITIALIZED":
    case "CKR_GENERAL_ERROR":
    case "CKR_DEVICE_ERROR":
    case "CKR_DEVICE_REMOVED":
    case "CKR_TOKEN_NOT_PRESENT":
    case "CKR_TOKEN_NOT_RECOGNIZED":
      return new Pkcs11Error(`PKCS#11 ${op} failed: the token or module is unavailable (${name}, ${where(ctx)})`, opts);
    default:
      return new Pkcs11Error(`PKCS#11 ${op}${mech !== undefined ? ` with ${mech}` : ""} failed with ${name} (${where(ctx)})`, opts);
  }
}
