/**
 * The one way a tool logs in to a backend with a Unix user's secret: read `<file>`, open; when the backend refuses
 * that secret (an AuthenticationFailure) and signstar-configure has left another one in `<file>.next` (it writes
 * that before telling the backend and renames it over `<file>` after, lib/configure/secret-rotation.ts), wait as
 * long as the backend throttles after a failed login and try `.next` once. A configure run in progress, or one
 * killed between the two steps, thus never locks a user out, whichever tool it runs.
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
 * back to `.next` as described in the module comment. `open` must authenticate (make at least one call the
 * backend checks the secret on), so that a refusal surfaces here.
 */
export async function openWithUserSecret<T>(
  mapping: { readonly backend: BackendName },
  location: ReadSecretOptions,
  open: (secret: string) => Promise<T>,
): Promise<OpenedWithSecret<T>> {
  const current = await readNonAdminSecret({ ...location, version: "current" });
  try {
    return { value: await open(current), secret: "current" };
  } catch (error) {
    if (!isAuthenticationFailure(error)) throw error;
    const next = await readNonAdminSecret({ ...location, version: "next" }).catch(() => undefined);
    if (next === undefined || next === current) throw error;
    const delay = AUTH_RETRY_DELAY_MS[mapping.backend];
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    return { value: await open(next), secret: "next" };
  }
}
