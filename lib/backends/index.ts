/**
 * Opens the signing key of a signing mapping on whichever backend holds it. The concrete backend module is
 * imported lazily: a PKCS#11 signer never loads the HTTPS client and a NetHSM signer never loads pkcs11js.
 * The signing-key modules are imported directly, not the backends' index barrels, which would also load the
 * administration and key-generation code (and its hashes) on every signature.
 */
import type { Config, NetHsmMapping, Pkcs11Mapping, UserMapping } from "../config/model.js";
import { ExitCode, SignstarError } from "../errors.js";
import type { SigningKey } from "./backend.js";

export type SigningMapping =
  | { readonly backend: "nethsm"; readonly mapping: Extract<NetHsmMapping, { kind: "signing" }> }
  | { readonly backend: "pkcs11"; readonly mapping: Extract<Pkcs11Mapping, { kind: "signing" }> };

export function isSigningMapping(m: UserMapping): m is SigningMapping {
  return m.backend !== "system" && m.mapping.kind === "signing";
}

/**
 * How long to wait before authenticating again after a refused secret: the NetHSM answers 429 to a user's
 * requests for one second after a failed login; PKCS#11 tokens do not throttle.
 */
export const AUTH_RETRY_DELAY_MS: Readonly<Record<SigningMapping["backend"], number>> = { pkcs11: 0, nethsm: 1100 };

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
    if (!config.pkcs11) throw new SignstarError("the configuration has no [pkcs11] section", ExitCode.Config);
    const { openPkcs11SigningKey } = await import("./pkcs11/signing-key.js");
    return openPkcs11SigningKey({
      module: config.pkcs11.module,
      token: mapping.mapping.token,
      key: mapping.mapping.key,
      pin: secret,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
  }
  if (!config.nethsm) throw new SignstarError("the configuration has no [nethsm] section", ExitCode.Config);
  const { openNetHsmSigningKey } = await import("./nethsm/signing-key.js");
  return openNetHsmSigningKey({
    connections: config.nethsm.connections,
    user: mapping.mapping.backendUser,
    passphrase: secret,
    keyId: mapping.mapping.signingKeyId,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
}
