/**
 * What every ForceCommand tool does first: refuse root, load the configuration, find the caller's mapping and
 * insist on the tool's role (a user of another role is denied, exit 5), and name the caller's own backend
 * secrets (never anyone else's) for openWithUserSecret.
 */
import { loadConfig, type ConfigLocation } from "../config/load.js";
import { findUserMapping, roleOf } from "../config/mappings.js";
import type { Config, Role, UserMapping } from "../config/model.js";
import type { ReadSecretOptions } from "../secrets/non-admin.js";
import type { LogSink } from "../log/syslog.js";
import { CallerError, refuseRoot, type Caller } from "./caller.js";

export interface CallerContext<M extends UserMapping> {
  readonly config: Config;
  readonly mapping: M;
}

/** Loads the config and returns the caller's mapping if its role is one of `roles`. */
export async function requireRole<R extends Role>(
  caller: Caller,
  location: ConfigLocation,
  roles: readonly R[],
  tool: string,
): Promise<CallerContext<UserMapping & { readonly mapping: { readonly kind: R } }>> {
  refuseRoot(caller);
  const { config } = await loadConfig(location);
  const found = findUserMapping(config, caller.name);
  if (found === undefined) throw new CallerError(`the user "${caller.name}" has no mapping in the configuration`);
  const role = roleOf(found);
  if (!(roles as readonly Role[]).includes(role)) {
    throw new CallerError(`the user "${caller.name}" has the role ${role}; ${tool} serves only ${roles.join(", ")}`);
  }
  return { config, mapping: found as UserMapping & { readonly mapping: { readonly kind: R } } };
}

/** Where one of the caller's own backend secrets is (it must own the file), for openWithUserSecret. */
export function callerSecret(config: Config, caller: Caller, backendUser: string, stateRoot?: string): ReadSecretOptions {
  return {
    systemUser: caller.name,
    backendUser,
    handling: config.system.nonAdminSecretHandling,
    caller,
    ...(stateRoot !== undefined ? { root: stateRoot } : {}),
  };
}

/** What the share tools take (they run as the shareholder). */
export interface ShareToolInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  /** Root prefix of the state paths ("/" on a host). */
  readonly root: string;
  readonly now: () => Date;
  readonly log: LogSink;
}

/** Refuses root and anyone whose mapping is not share_holder. */
export async function requireShareholder(input: ShareToolInput): Promise<void> {
  refuseRoot(input.caller);
  const { config } = await loadConfig(input.config);
  const found = findUserMapping(config, input.caller.name);
  if (found?.mapping.kind !== "share_holder") {
    throw new CallerError(`the user "${input.caller.name}" is not a shareholder in the configuration`);
  }
}
