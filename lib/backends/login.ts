/**
 * The one way a tool logs in to a backend with a Unix user's secret: read `<file>`, open; when the backend refuses
 * that secret (an AuthenticationFailure) and signstar-configure has left another one in `<file>.next` (it writes
 * that before telling the backend and renames it over `<file>` after, lib/configure/secret-rotation.ts), or has
 * just renamed it over `<file>`, wait as long as the backend throttles after a failed login and try it once. A
 * configure run in progress, or one killed between the two steps, thus never locks a user out, whichever tool
 * it runs.
 *
 * A long-lived holder of a session (a resident signer) calls it again to re-open after a rotation, a backend
 * restart or a re-inserted token: both files are read anew on every call, and the result says which one the
 * backend accepted ("next": a rotation is between its backend call and its renames).
 */
import { readNonAdminSecret, type ReadSecretOptions, type SecretVersion } from "../secrets/non-admin.js";
import { isAuthenticationFailure, type BackendName } from "./backend.js";

/**
 * How long to wait before authenticating again after a refused secret: the NetHSM answers 429 to a user's
 * requests for one second after a failed login (NetHSM API, "429 Too Many Requests"); PKCS#11 tokens do not throttle.
 */
export const AUTH_RETRY_DELAY_MS: Readonly<Record<BackendName, number>> = { pkcs11: 0, nethsm: 1100 };

export interface OpenedWithSecret<T> {
  /** What `open` returned. */
  readonly value: T;
  /** The copy of the secret the backend accepted. */
  readonly secret: SecretVersion;
}

/**
 * `open(secret)` with the user's secret at `location` (the caller's own file, owner and mode checked), falling
 * back as described in the module comment. `open` must authenticate (make at least one call the backend checks
 * the secret on), so that a refusal surfaces here.
 *
 * On a refusal both files are read again, not only `.next`: a rotation may have finished between the first read
 * and the backend's answer (signstar-configure renamed `.next` over `<file>`), and then `<file>` holds the secret
 * the backend has while `.next` is gone. Each copy that differs from the refused one is tried once, `<file>`
 * first (a finished rotation), then `.next` (one in progress): at most two more logins, then the refusal stands.
 */
export async function openWithUserSecret<T>(
  mapping: { readonly backend: BackendName },
  location: ReadSecretOptions,
  open: (secret: string) => Promise<T>,
): Promise<OpenedWithSecret<T>> {
  const current = await readNonAdminSecret({ ...location, version: "current" });
  try {
    return { value: await open(current), secret: "current" };
  } catch (refused) {
    if (!isAuthenticationFailure(refused)) throw refused;
    const tried = new Set([current]);
    let last: unknown = refused;
    for (const version of ["current", "next"] as const) {
      const candidate = await readNonAdminSecret({ ...location, version }).catch(() => undefined);
      if (candidate === undefined || tried.has(candidate)) continue;
      tried.add(candidate);
      const delay = AUTH_RETRY_DELAY_MS[mapping.backend];
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      try {
        return { value: await open(candidate), secret: version };
      } catch (error) {
        if (!isAuthenticationFailure(error)) throw error;
        last = error;
      }
    }
    throw last;
  }
}
