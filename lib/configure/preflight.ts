/**
 * What a signstar-configure run checks before it changes anything (docs/configure.md, "Order of steps"):
 *
 *   1. preconditions that need no secret: every Unix user the config names exists (configure-build made them),
 *      the PKCS#11 module loads and every token is probed, the NetHSM answers and is in a state configure can
 *      work with (checkPreconditions);
 *   2. the admin secret the run loaded is proven against every backend that is already set up (SO login on
 *      each initialized admin token, the NetHSM `admin` login), and a run that has no stored admin secret
 *      refuses to generate one for a backend that is initialized already (proveAdminSecret).
 *
 * Only after both does a run store a new form of the admin secret (split, stage, write), rotate a PIN or a
 * passphrase, or wipe uploaded shares. A failure here leaves shares, uploads, secret files and backends as
 * they were, and names the fix.
 */
import { LOG_WRITER_USER, type NetHsmConnection, type TokenSelector } from "../config/model.js";
import { userMappings } from "../config/mappings.js";
import { ExitCode } from "../errors.js";
import { lookupUser } from "../os/accounts.js";
import { soPinFor } from "../secrets/admin-credentials.js";
import { act, ConfigureError, info, type RunContext } from "./context.js";
import type { AdminSecretInfo } from "./admin-secret.js";

/** A token the config names (admin or signing mapping) and whether the module shows it initialized. */
export interface TokenFact {
  readonly token: TokenSelector;
  readonly name: string;
  /** An admin mapping names it: the admin credentials hold its SO PIN. */
  readonly admin: boolean;
  readonly present: boolean;
}

/** What the preconditions found out about the backends (read-only). */
export interface BackendFacts {
  readonly tokens: readonly TokenFact[];
  /** The NetHSM's state (`GET /health/state`), when the config has a NetHSM. */
  readonly nethsmState?: string;
  /** Who uploaded a NetHSM backup that this run restores (it needs the admin secret it was made with). */
  readonly backupUploadedBy?: string;
}

export function tokenName(t: TokenSelector): string {
  return "label" in t ? `pkcs11 token label "${t.label}"` : `pkcs11 token serial "${t.serial}"`;
}

function tokenKey(t: TokenSelector): string {
  return "label" in t ? `label:${t.label}` : `serial:${t.serial}`;
}

/** Every Unix user of the config exists; every backend is reachable. Changes nothing. */
export async function checkPreconditions(ctx: RunContext): Promise<BackendFacts> {
  const missing: string[] = [];
  for (const m of userMappings(ctx.config)) {
    if ((await lookupUser(m.mapping.systemUser)) === undefined) missing.push(m.mapping.systemUser);
  }
  // With the log key on a token or the NetHSM, the writer's user gets that backend's secret from this run.
  const logKey = ctx.config.system.signingLog?.key;
  if (logKey !== undefined && logKey.kind !== "file" && (await lookupUser(LOG_WRITER_USER)) === undefined) missing.push(LOG_WRITER_USER);
  if (missing.length > 0) {
    const list = missing.map((u) => `"${u}"`).join(", ");
    throw new ConfigureError(
      `the Unix user${missing.length > 1 ? "s" : ""} ${list} named in the config do${missing.length > 1 ? "" : "es"} not exist: run signstar-configure-build first (and reload sshd), then signstar-configure again; nothing was changed`,
      ExitCode.Config,
    );
  }
  const tokens = await probeTokens(ctx);
  const nethsmState = ctx.config.nethsm !== undefined ? await probeNetHsm(ctx.config.nethsm.connections) : undefined;
  const backup = ctx.config.nethsm !== undefined ? await (await import("./nethsm-reconcile.js")).uploadedBackup(ctx) : undefined;
  return { tokens, ...(nethsmState !== undefined ? { nethsmState } : {}), ...(backup !== undefined ? { backupUploadedBy: backup.user } : {}) };
}

async function probeTokens(ctx: RunContext): Promise<TokenFact[]> {
  const section = ctx.config.pkcs11;
  if (section === undefined) return [];
  const byKey = new Map<string, { token: TokenSelector; admin: boolean }>();
  for (const m of section.mappings) {
    if (m.kind !== "signing" && m.kind !== "admin") continue;
    const e = byKey.get(tokenKey(m.token)) ?? { token: m.token, admin: false };
    if (m.kind === "admin") e.admin = true;
    byKey.set(tokenKey(m.token), e);
  }
  const { pkcs11TokenPresent } = await import("../backends/pkcs11/index.js");
  const out: TokenFact[] = [];
  for (const { token, admin } of byKey.values()) {
    const name = tokenName(token);
    const present = await pkcs11TokenPresent(section.module, token, 10_000);
    if (!present && "serial" in token) {
      throw new ConfigureError(`${name} does not exist; a token selected by serial cannot be created: initialize it with the vendor's tool; nothing was changed`, ExitCode.Backend);
    }
    out.push({ token, name, admin, present });
  }
  return out;
}

/** The NetHSM's state; a wrong URL or an unusable state is refused here, before any secret is touched. */
async function probeNetHsm(connections: readonly NetHsmConnection[]): Promise<string> {
  const { openNetHsmClient, NetHsmHttpError } = await import("../backends/nethsm/index.js");
  const client = openNetHsmClient(connections, undefined);
  let state: string;
  try {
    state = await client.state();
  } catch (error) {
    if (error instanceof NetHsmHttpError && error.status === 404) {
      throw new ConfigureError(
        `the NetHSM at ${connections.map((c) => c.url).join(", ")} has no /health/state (404): the connection URL must point at the NetHSM REST API (https://host:port/ or https://host:port/api/v1); nothing was changed`,
        ExitCode.Backend,
      );
    }
    throw error;
  } finally {
    client.close();
  }
  if (state !== "Unprovisioned" && state !== "Locked" && state !== "Operational") {
    throw new ConfigureError(`the NetHSM is in state ${state}; it needs service before signstar-configure can continue; nothing was changed`, ExitCode.Backend);
  }
  return state;
}

const RECOVER =
  "restore the admin credentials from your backup (plaintext: /var/lib/signstar/creds/admin-credentials.toml; Shamir: have the holders upload their shares), or reset the backend by hand; see docs/configure.md, \"Recovery\"";

/**
 * Proves the admin secret of this run against every backend that is set up already, before any new form of it
 * is stored. With no admin secret stored anywhere, a set-up backend is refused (a new secret would lock the
 * operator out of it). The NetHSM is unlocked here when it is locked (the unlock passphrase is then proven).
 */
export async function proveAdminSecret(ctx: RunContext, facts: BackendFacts, loaded: AdminSecretInfo): Promise<void> {
  const setUp = [
    ...facts.tokens.filter((t) => t.admin && t.present).map((t) => t.name),
    ...(facts.nethsmState !== undefined && facts.nethsmState !== "Unprovisioned" ? [`the NetHSM (state ${facts.nethsmState})`] : []),
    ...(facts.backupUploadedBy !== undefined ? [`the NetHSM backup uploaded by ${facts.backupUploadedBy}`] : []),
  ];
  if (ctx.admin.kind === "absent") {
    if (!loaded.stored && setUp.length > 0) {
      throw new ConfigureError(
        `${setUp.join(" and ")} ${setUp.length > 1 ? "are" : "is"} set up already, but no admin secret is stored on this host (${ctx.admin.reason}); signstar-configure never generates a new admin secret for a set-up backend: ${RECOVER}`,
        ExitCode.Secret,
      );
    }
    return;
  }
  const creds = ctx.admin.creds;
  const origin = ctx.admin.origin;
  const proven: string[] = [];
  const section = ctx.config.pkcs11;
  if (section !== undefined) {
    const p11 = await import("../backends/pkcs11/index.js");
    for (const t of facts.tokens.filter((x) => x.admin && x.present)) {
      const soPin = soPinFor(creds, t.token);
      if (soPin === undefined) {
        throw new ConfigureError(`${t.name} is initialized already, but the admin credentials from ${origin} have no SO PIN for it: add its SO PIN to the admin credentials; nothing was changed`, ExitCode.Secret);
      }
      try {
        await p11.checkPkcs11SoPin({ module: section.module, token: t.token, soPin });
      } catch (error) {
        if (error instanceof p11.Pkcs11PinError) {
          throw new ConfigureError(`the admin credentials from ${origin} do not match ${t.name} (${error.message}); nothing was changed: ${RECOVER}`, ExitCode.Secret);
        }
        throw error;
      }
      proven.push(t.name);
    }
  }
  if (ctx.config.nethsm !== undefined && facts.nethsmState !== undefined && facts.nethsmState !== "Unprovisioned") {
    await proveNetHsm(ctx, ctx.config.nethsm.connections, facts.nethsmState, creds, origin);
    proven.push("the NetHSM");
  }
  if (proven.length > 0) info(ctx, `admin credentials from ${origin} proven against ${proven.join(", ")}`);
}

async function proveNetHsm(
  ctx: RunContext,
  connections: readonly NetHsmConnection[],
  state: string,
  creds: import("../secrets/admin-credentials.js").AdminCredentials,
  origin: string,
): Promise<void> {
  const { openNetHsmClient, NetHsmHttpError } = await import("../backends/nethsm/index.js");
  const n = creds.nethsm;
  const admin = n?.administrators.find((a) => a.name === "admin");
  if (n === undefined || admin === undefined) {
    throw new ConfigureError(`the NetHSM is set up already, but the admin credentials from ${origin} have no NetHSM part: ${RECOVER}`, ExitCode.Secret);
  }
  const refused = (what: string): ConfigureError =>
    new ConfigureError(`the admin credentials from ${origin} do not match the NetHSM (${what}); nothing was changed: ${RECOVER}`, ExitCode.Secret);
  if (state === "Locked") {
    if (ctx.dryRun) {
      info(ctx, "NetHSM: locked; the unlock passphrase and the admin passphrase are proven by the real run");
      return;
    }
    await act(ctx, "NetHSM: unlock", async () => {
      const c = openNetHsmClient(connections, undefined);
      try {
        await c.unlock(n.unlockPassphrase);
      } catch (error) {
        if (error instanceof NetHsmHttpError && (error.status === 400 || error.status === 401 || error.status === 403)) throw refused(`unlock refused: ${error.status}`);
        throw error;
      } finally {
        c.close();
      }
    });
  }
  const c = openNetHsmClient(connections, { user: "admin", passphrase: admin.passphrase });
  try {
    await c.getUser("admin");
  } catch (error) {
    if (error instanceof NetHsmHttpError && (error.status === 401 || error.status === 403)) throw refused(`login of admin refused: ${error.status}`);
    throw error;
  } finally {
    c.close();
  }
}
