/** Token selection, sessions and login on an acquired module. */
import type { TokenSelector } from "../../config/model.js";
import { type OpContext, Pkcs11Error, Pkcs11TokenNotFoundError, translate, where } from "./errors.js";
import { type LoadedModule, acquireModule, releaseModule } from "./module.js";
import { type Handle, type Pkcs11Lib, pkcs11js } from "./pkcs11js.js";
import { guard } from "./watchdog.js";

/** Token labels and serials are fixed-width fields padded with spaces (or NULs by some writers). */
export function trimField(s: string): string {
  return s.replace(/[\s\0]+$/u, "");
}

export function describeToken(sel: TokenSelector): string {
  return "label" in sel ? `label "${sel.label}"` : `serial "${sel.serial}"`;
}

export interface FoundToken {
  readonly slot: Handle;
  readonly label: string;
  readonly serial: string;
}

/** Runs synchronous calls with the module's deadline and turns errors into typed Pkcs11Errors. */
export function run<T>(
  m: LoadedModule,
  op: string,
  ctx: OpContext,
  fn: (lib: Pkcs11Lib) => T,
  timeoutMs: number = m.timeoutMs,
): T {
  return guard(timeoutMs, `PKCS#11 ${op} did not return within ${timeoutMs} ms (${where(ctx)}); stopping`, () => {
    try {
      return fn(m.lib);
    } catch (e) {
      throw translate(e, op, ctx);
    }
  });
}

/** Finds the one token matching `sel`; lists the labels there are when none matches. */
export function findToken(m: LoadedModule, sel: TokenSelector): FoundToken {
  const ctx: OpContext = { module: m.path, token: describeToken(sel) };
  const tokens = run(m, "C_GetSlotList", ctx, (lib) =>
    lib.C_GetSlotList(true).map((slot) => {
      const info = lib.C_GetTokenInfo(slot);
      return { slot, label: trimField(info.label), serial: trimField(info.serialNumber), flags: info.flags };
    }),
  );
  const hits = tokens.filter((t) =>
    "label" in sel ? t.label === sel.label : t.serial === sel.serial,
  );
  if (hits.length === 1 && hits[0] !== undefined) return hits[0];
  if (hits.length > 1) {
    throw new Pkcs11TokenNotFoundError(
      `${hits.length} tokens match ${describeToken(sel)} in module ${m.path}; select the token by serial`,
    );
  }
  const labels = tokens
    .filter((t) => (t.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0)
    .map((t) => `"${t.label}"`)
    .sort();
  throw new Pkcs11TokenNotFoundError(
    `no token with ${describeToken(sel)} in module ${m.path}; tokens present: ${labels.length > 0 ? labels.join(", ") : "none"}`,
  );
}

/** An open session on one token, with its module reference. close() releases both. */
export class TokenSession {
  private closed = false;
  private constructor(
    readonly module: LoadedModule,
    readonly token: FoundToken,
    readonly handle: Handle,
    readonly ctx: OpContext,
  ) {}

  /** Acquires the module, finds the token and opens a session; on any failure releases what it took. */
  static open(opts: { module: string; token: TokenSelector; timeoutMs: number; rw: boolean }): TokenSession {
    const m = acquireModule(opts.module, opts.timeoutMs);
    try {
      const token = findToken(m, opts.token);
      const ctx: OpContext = { module: m.path, token: describeToken(opts.token) };
      const flags = pkcs11js.CKF_SERIAL_SESSION | (opts.rw ? pkcs11js.CKF_RW_SESSION : 0);
      const handle = run(m, "C_OpenSession", ctx, (lib) => lib.C_OpenSession(token.slot, flags));
      return new TokenSession(m, token, handle, ctx);
    } catch (e) {
      releaseModule(m);
      throw e;
    }
  }

  /** Logs in; an existing login of this process on the token (shared PKCS#11 login state) counts. */
  login(userType: number, pin: string): void {
    this.do("C_Login", (lib) => {
      try {
        lib.C_Login(this.handle, userType, pin);
      } catch (e) {
        if (e instanceof Error && /^CKR_USER_ALREADY_LOGGED_IN/.test(e.message)) return;
        throw e;
      }
    });
  }

  /** Runs calls on this session with the deadline and typed errors. */
  do<T>(op: string, fn: (lib: Pkcs11Lib, session: Handle) => T, extra?: { key?: string; mechanism?: number; timeoutMs?: number }): T {
    if (this.closed) throw new Pkcs11Error(`PKCS#11 ${op} on a closed session (${where(this.ctx)})`);
    const ctx: OpContext = {
      ...this.ctx,
      ...(extra?.key !== undefined ? { key: extra.key } : {}),
      ...(extra?.mechanism !== undefined ? { mechanism: extra.mechanism } : {}),
    };
    return run(this.module, op, ctx, (lib) => fn(lib, this.handle), extra?.timeoutMs ?? this.module.timeoutMs);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the session (which ends this process's login once no session remains) and releases the module. Never throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      run(this.module, "C_CloseSession", this.ctx, (lib) => lib.C_CloseSession(this.handle));
    } catch {
      /* the session is gone either way */
    } finally {
      releaseModule(this.module);
    }
  }
}
