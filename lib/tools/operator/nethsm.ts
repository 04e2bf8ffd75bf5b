/** A NetHSM client for the configured connections and one of the caller's backend users (loaded lazily). */
import type { Config } from "../../config/model.js";
import { ExitCode, SignstarError } from "../../errors.js";
import type { NetHsmClient } from "../../backends/nethsm/index.js";

export interface NetHsmClientOptions {
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
}

export async function netHsmClient(
  config: Config,
  credentials: { readonly user: string; readonly passphrase: string },
  opts: NetHsmClientOptions = {},
): Promise<NetHsmClient> {
  if (!config.nethsm) throw new SignstarError("the configuration has no [nethsm] section", ExitCode.Config);
  const { NetHsmClient } = await import("../../backends/nethsm/index.js");
  return new NetHsmClient({
    connections: config.nethsm.connections,
    credentials,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.maxResponseBytes !== undefined ? { maxResponseBytes: opts.maxResponseBytes } : {}),
  });
}

/** Backend failures keep their class (exit 7); anything else from the client is wrapped as a backend error. */
export function backendError(error: unknown, what: string): SignstarError {
  if (error instanceof SignstarError) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new SignstarError(`${what}: ${text}`, ExitCode.Backend, { cause: error });
}
