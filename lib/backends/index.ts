/**
 * The light entry to the backends, for the signing path and every tool: the backend interface (./backend.ts),
 * logging in with a user's secret (./login.ts) and opening a signing mapping's key on whichever backend holds it. Concrete backends are imported lazily: a
 * PKCS#11 signer never loads the HTTPS client, a NetHSM signer never loads pkcs11js, and the signing-key
 * modules are imported directly, not the backends' index barrels, which would also load the administration and
 * key-generation code (and its hashes) on every signature. .ci/bundle.mjs keeps these dynamic imports as lazy
 * chunks. Other code above lib/backends imports a backend only through its index (./nethsm/index.ts,
 * ./pkcs11/index.ts), lazily where start-up matters.
 */
import { netHsmSection, pkcs11Section, type SigningMapping } from "../config/mappings.js";
import type { Config } from "../config/model.js";
import type { SigningKey } from "./backend.js";

export {
  backendError,
  isAuthenticationFailure,
  type AuthenticationFailure,
  type BackendName,
  type KeyAdministration,
  type KeyInfo,
  type SigningKey,
} from "./backend.js";
export { AUTH_RETRY_DELAY_MS, openWithUserSecret, type OpenedWithSecret } from "./login.js";

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
