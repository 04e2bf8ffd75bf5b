/**
 * The one place a NetHSM client is made: the configured connections (failing over in order), optionally a
 * user's credentials, and the transport options of the caller (timeout, response bound, test hooks). Tools,
 * signstar-configure, the signing key and the administration all open their clients here.
 */
import { netHsmSection } from "../../config/mappings.js";
import type { Config, NetHsmConnection } from "../../config/model.js";
import { NetHsmClient } from "./client.js";
import type { Credentials, TransportOptions } from "./transport.js";

export type NetHsmClientOptions = Omit<TransportOptions, "connections">;

export function openNetHsmClient(
  connections: readonly NetHsmConnection[],
  credentials?: Credentials,
  options: NetHsmClientOptions = {},
): NetHsmClient {
  return new NetHsmClient({ ...options, connections, ...(credentials ? { credentials } : {}) });
}

/** A client for the connections of the configuration's `[nethsm]` section (ConfigError without one). */
export function netHsmClientFor(config: Config, credentials?: Credentials, options: NetHsmClientOptions = {}): NetHsmClient {
  return openNetHsmClient(netHsmSection(config).connections, credentials, options);
}
