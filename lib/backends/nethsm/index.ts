/** NetHSM backend: REST client, SigningKey and KeyAdministration. */
export * from "./api-types.js";
export { NetHsmClient, rfc3339, parseKeyDetails, type ClientOptions } from "./client.js";
export { netHsmClientFor, openNetHsmClient, type NetHsmClientOptions } from "./session.js";
export { NetHsmError, NetHsmConnectionError, NetHsmHttpError, NetHsmProtocolError, NetHsmTimeoutError, statusText } from "./errors.js";
export { NetHsmTransport, type Credentials, type ExchangeObserver, type HttpRequest, type HttpResponse, type TransportOptions } from "./transport.js";
export { sha256Fingerprint, normaliseFingerprint } from "./tls.js";
export { publicKeyOf, signModeOf, netHsmGenerateArgs, netHsmKeyType } from "./public-key.js";
export { openNetHsmSigningKey, NetHsmSigningKey, type OpenNetHsmSigningKeyOptions } from "./signing-key.js";
export { openNetHsmAdministration, NetHsmAdministration, type OpenNetHsmAdminOptions } from "./admin.js";
