/**
 * The light entry to the backends, for the signing path and every tool: the backend interface (./backend.ts)
 * and opening a signing mapping's key on whichever backend holds it. Concrete backends are imported lazily: a
 * PKCS#11 signer never loads the HTTPS client, a NetHSM signer never loads pkcs11js, and the signing-key
 * modules are imported directly, not the backends' index barrels, which would also load the administration and
 * key-generation code (and its hashes) on every signature. .ci/bundle.mjs keeps these dynamic imports as lazy
 * chunks. Other code above lib/backends imports a backend only through its index (./nethsm/index.ts,
 * ./pkcs11/index.ts), lazily where start-up matters.
 */
import { netHsmSection, pkcs11Section, type SigningMapping } from "../config/mappings.js";
import type { Config } from "../config/model.js";
import type { BackendName, SigningKey } from "./backend.js";

export {
  backendError,
  isAuthenticationFailure,
  type AuthenticationFailure,
  type BackendName,
  type KeyAdministration,
  type KeyInfo,
  type SigningKey,
} from "./backend.js";

/**
 * How long to wait before authenticating again after a refused secret: the NetHSM answers 429 to a user's
 * requests for one second after a failed login; PKCS#11 tokens do not throttle.
 */
export const AUTH_RETRY_DELAY_MS: Readonly<Record<BackendName, number>> = { pkcs11: 0, nethsm: 1100 };

export interface OpenSigningKeyOptions {
  readonly config: Config;
  readonly mapping: SigningMapping;
  /** The operator passphrase (NetHSM) or token user PIN (PKCS#11) of this mapping. */
  readonly secret: string;
  readonly timeoutMs?: number;
}

export async function openSigningKey(opts: OpenSigningKeyOptions): Promise<SigningKey> {
  const { config, mapping, secret } = opts;
  if (mapping.backend === "pkcs11") {
    const { module } = pkcs11Section(config);
    const { openPkcs11SigningKey } = await import("./pkcs11/signing-key.js");
    return openPkcs11SigningKey({ module, token: mapping.mapping.token, key: mapping.mapping.key, pin: secret, timeoutMs: opts.timeoutMs });
  }
  const { connections } = netHsmSection(config);
  const { openNetHsmSigningKey } = await import("./nethsm/signing-key.js");
  return openNetHsmSigningKey({ connections, user: mapping.mapping.backendUser, passphrase: secret, keyId: mapping.mapping.signingKeyId, timeoutMs: opts.timeoutMs });
}
