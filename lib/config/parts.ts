/**
 * A configuration as far as it parsed: every list keeps one slot per file entry (undefined where the entry had
 * problems), so validation can still run on the rest and locations keep matching the file.
 */
import type {
  AdminSecretHandling,
  Config,
  NetHsmConnection,
  NetHsmMapping,
  Pkcs11Mapping,
  SecretHandling,
  SigningLogSetup,
  SystemMapping,
} from "./model.js";

export interface ConfigParts {
  readonly system:
    | {
        readonly iteration: number | undefined;
        readonly adminSecretHandling: AdminSecretHandling | undefined;
        readonly nonAdminSecretHandling: SecretHandling | undefined;
        readonly mappings: readonly (SystemMapping | undefined)[];
        readonly signingLog?: SigningLogSetup | undefined;
        readonly auditLog?: "required" | "best-effort" | undefined;
        readonly signingConcurrency?: number | undefined;
        readonly signingQueue?: number | undefined;
      }
    | undefined;
  readonly nethsm:
    | {
        readonly connections: readonly (NetHsmConnection | undefined)[];
        readonly mappings: readonly (NetHsmMapping | undefined)[];
      }
    | undefined;
  readonly pkcs11:
    | {
        readonly module: string | undefined;
        readonly mappings: readonly (Pkcs11Mapping | undefined)[];
      }
    | undefined;
}

function all<T>(xs: readonly (T | undefined)[]): T[] | undefined {
  return xs.every((x) => x !== undefined) ? (xs as T[]) : undefined;
}

/** The Config, if every part is present (call only when no problems were found). */
export function assemble(parts: ConfigParts): Config | undefined {
  const s = parts.system;
  if (s === undefined || s.iteration === undefined || s.adminSecretHandling === undefined || s.nonAdminSecretHandling === undefined) {
    return undefined;
  }
  const systemMappings = all(s.mappings);
  if (systemMappings === undefined) return undefined;
  const config: {
    system: Config["system"];
    nethsm?: Config["nethsm"];
    pkcs11?: Config["pkcs11"];
  } = {
    system: {
      iteration: s.iteration,
      adminSecretHandling: s.adminSecretHandling,
      nonAdminSecretHandling: s.nonAdminSecretHandling,
      mappings: systemMappings,
      ...(s.signingLog !== undefined ? { signingLog: s.signingLog } : {}),
      ...(s.auditLog !== undefined ? { auditLog: s.auditLog } : {}),
      ...(s.signingConcurrency !== undefined ? { signingConcurrency: s.signingConcurrency } : {}),
      ...(s.signingQueue !== undefined ? { signingQueue: s.signingQueue } : {}),
    },
  };
  if (parts.nethsm !== undefined) {
    const connections = all(parts.nethsm.connections);
    const mappings = all(parts.nethsm.mappings);
    if (connections === undefined || mappings === undefined) return undefined;
    config.nethsm = { connections, mappings };
  }
  if (parts.pkcs11 !== undefined) {
    const mappings = all(parts.pkcs11.mappings);
    if (parts.pkcs11.module === undefined || mappings === undefined) return undefined;
    config.pkcs11 = { module: parts.pkcs11.module, mappings };
  }
  return config;
}

/** The parts of a complete Config (for validating converted or programmatically built configs). */
export function partsOf(config: Config): ConfigParts {
  return {
    system: config.system,
    nethsm: config.nethsm,
    pkcs11: config.pkcs11,
  };
}
