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
import { pkcs11BackendUser, LOG_KEY_LABEL, type Config, type LogKeyPlace } from "../config/model.js";
import type { ReadSecretOptions } from "../secrets/non-admin.js";
import type { Ed25519MessageKey, SigningKey } from "./backend.js";
import { openWithUserSecret } from "./login.js";

export {
  backendError,
  isAuthenticationFailure,
  reopenMayCure,
  type Ed25519MessageKey,
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

/**
 * The signing log's key on its token or NetHSM (`signing_log`'s place, docs/tlog.md "Where the log key lives"),
 * logged in with the writer's user's secret (`secret` without the backend user, which the place names) the one way
 * every tool logs in (./login.ts: a rotation in progress is followed through `<file>.next`).
 */
export async function openLogKey(config: Config, place: Exclude<LogKeyPlace, { kind: "file" }>, secret: Omit<ReadSecretOptions, "backendUser">): Promise<Ed25519MessageKey> {
  if (place.kind === "pkcs11") {
    const { module } = pkcs11Section(config);
    const token = { label: place.token };
    const { openPkcs11SigningKey } = await import("./pkcs11/signing-key.js");
    const location = { ...secret, backendUser: pkcs11BackendUser(token) };
    return (await openWithUserSecret({ backend: "pkcs11" }, location, (pin) => openPkcs11SigningKey({ module, token, key: { label: LOG_KEY_LABEL }, pin }))).value;
  }
  const { connections } = netHsmSection(config);
  const { openNetHsmSigningKey } = await import("./nethsm/signing-key.js");
  const location = { ...secret, backendUser: place.user };
  return (await openWithUserSecret({ backend: "nethsm" }, location, (passphrase) => openNetHsmSigningKey({ connections, user: place.user, passphrase, keyId: place.keyId }))).value;
}

/*
 * Where the signing tool gets its key from, so that the in-process tool and a resident signer run the very same
 * signing function (lib/tools/download-signature.ts) and differ only here: per request (open with the user's
 * secret, use, close: today's tool) or held open across requests (lib/signer/resident-keys.ts).
 */

/** Everything needed to open a signing mapping's key with its user's secret. */
export interface KeyRequest {
  readonly config: Config;
  readonly mapping: SigningMapping;
  /** The user's secret file (lib/backends/login.ts reads it, and `.next` during a rotation). */
  readonly secret: ReadSecretOptions;
}

export interface SigningKeys {
  /** Runs `use` with the mapping's key; the key is valid only during `use`. */
  withKey<T>(request: KeyRequest, use: (key: SigningKey) => Promise<T>): Promise<T>;
}

/** Open, use, close: one login per request (the in-process tool). */
export const perRequestKeys: SigningKeys = {
  async withKey(request, use) {
    const { value: key } = await openWithUserSecret(request.mapping, request.secret, (secret) =>
      openSigningKey({ config: request.config, mapping: request.mapping, secret }),
    );
    try {
      return await use(key);
    } finally {
      await key.close();
    }
  },
};
