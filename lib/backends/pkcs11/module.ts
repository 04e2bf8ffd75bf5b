/**
 * Loading and initializing PKCS#11 modules, shared per process.
 *
 * A PKCS#11 module is a process-wide singleton (C_Initialize twice fails with
 * CKR_CRYPTOKI_ALREADY_INITIALIZED, and dlopen of the same file returns the same instance), so every open key
 * or admin session in this process shares one loaded module per real path, reference counted: the first user
 * loads it and calls C_Initialize with CKF_OS_LOCKING_OK (p11-kit-client answers CKR_CANT_LOCK without it),
 * the last one calls C_Finalize. Environment the module reads at C_Initialize (SOFTHSM2_CONF,
 * P11_KIT_SERVER_ADDRESS) is taken from process.env at that moment.
 */
import { dirname } from "node:path";
import { realpathSync, statSync } from "node:fs";
import { hostLayout } from "../../layout/host-layout.js";
import { Pkcs11ModuleError, isP11KitClient, translate } from "./errors.js";
import { type Pkcs11Lib, ckrName, ckrOf, pkcs11js } from "./pkcs11js.js";
import { acquireWatchdog, guard, releaseWatchdog } from "./watchdog.js";

/** Where Signstar's p11-kit socket unit listens (systemd/p11-kit-signstar.socket). */
export const DEFAULT_P11_KIT_SERVER_ADDRESS = `unix:path=${hostLayout().p11KitSocket}`;
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface LoadedModule {
  /** The path as configured (used in messages). */
  readonly path: string;
  readonly lib: Pkcs11Lib;
  readonly timeoutMs: number;
}

interface Entry {
  lib: Pkcs11Lib;
  refs: number;
}
const entries = new Map<string, Entry>();

/** Loads (once per process) and initializes (once per user count going 0 → 1) a module. */
export function acquireModule(path: string, timeoutMs: number): LoadedModule {
  if (!path.startsWith("/")) throw new Pkcs11ModuleError(`PKCS#11 module path ${path} is not absolute`);
  let real: string;
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
    real = realpathSync(path);
  } catch {
    throw new Pkcs11ModuleError(`PKCS#11 module ${path} does not exist or is not a file`);
  }
  checkModuleOwnership(path, real);
  if (isP11KitClient(real) && process.env["P11_KIT_SERVER_ADDRESS"] === undefined) {
    // Documented default: the socket of systemd/p11-kit-signstar.socket.
    process.env["P11_KIT_SERVER_ADDRESS"] = DEFAULT_P11_KIT_SERVER_ADDRESS;
  }
  acquireWatchdog();
  try {
    let entry = entries.get(real);
    if (entry === undefined) {
      const lib = new pkcs11js.PKCS11();
      guard(timeoutMs, `PKCS#11 module ${path} did not finish loading within ${timeoutMs} ms; stopping`, () => {
        try {
          lib.load(real);
        } catch (e) {
          const detail = e instanceof Error ? e.message : String(e);
          throw new Pkcs11ModuleError(`cannot load PKCS#11 module ${path}: ${detail}`, { cause: e });
        }
      });
      entry = { lib, refs: 0 };
      entries.set(real, entry);
    }
    if (entry.refs === 0) {
      const lib = entry.lib;
      guard(timeoutMs, `PKCS#11 module ${path} did not answer C_Initialize within ${timeoutMs} ms; stopping`, () => {
        try {
          lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
        } catch (e) {
          const code = ckrOf(e);
          if (code !== undefined && ckrName(code) === "CKR_CRYPTOKI_ALREADY_INITIALIZED") return;
          const err = translate(e, "C_Initialize", { module: path });
          throw new Pkcs11ModuleError(err.message, { cause: e, ...(err.ckr !== undefined ? { ckr: err.ckr } : {}) });
        }
      });
    }
    entry.refs++;
    return { path, lib: entry.lib, timeoutMs };
  } catch (e) {
    releaseWatchdog();
    throw e;
  }
}

/** Drops one user; C_Finalize when it was the last. Never throws. */
export function releaseModule(m: LoadedModule): void {
  let real: string | undefined;
  for (const [k, v] of entries) if (v.lib === m.lib) real = k;
  const entry = real !== undefined ? entries.get(real) : undefined;
  try {
    if (entry !== undefined && entry.refs > 0) {
      entry.refs--;
      if (entry.refs === 0) {
        guard(m.timeoutMs, `PKCS#11 module ${m.path} did not answer C_Finalize within ${m.timeoutMs} ms; stopping`, () => {
          try {
            entry.lib.C_Finalize();
          } catch {
            /* nothing left to clean up */
          }
        });
      }
    }
  } finally {
    releaseWatchdog();
  }
}

/** Runs synchronous PKCS#11 calls under the module's deadline; errors become typed Pkcs11Errors. */
export function call<T>(m: LoadedModule, what: string, describe: string, fn: () => T, timeoutMs = m.timeoutMs): T {
  return guard(timeoutMs, `PKCS#11 ${what} did not return within ${timeoutMs} ms (${describe}); stopping`, fn);
}

/**
 * A shared library this process loads runs with its privileges (root in signstar-configure): like sshd's
 * StrictModes, the module and every directory above its real path must be owned by root and writable by nobody
 * else (a root-owned sticky directory such as /tmp excepted). One line naming the path otherwise.
 */
function checkModuleOwnership(path: string, real: string): void {
  const st = statSync(real);
  if (st.uid !== 0) throw new Pkcs11ModuleError(`refusing PKCS#11 module ${path}: it is owned by uid ${st.uid}, not root`);
  if ((st.mode & 0o022) !== 0) throw new Pkcs11ModuleError(`refusing PKCS#11 module ${path}: mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")} is writable by group or others`);
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const d = statSync(dir);
    if (d.uid !== 0) throw new Pkcs11ModuleError(`refusing PKCS#11 module ${path}: its directory ${dir} is owned by uid ${d.uid}, not root`);
    if ((d.mode & 0o022) !== 0 && (d.mode & 0o1000) === 0) {
      throw new Pkcs11ModuleError(`refusing PKCS#11 module ${path}: its directory ${dir} is writable by group or others`);
    }
    if (dir === "/") break;
  }
}
