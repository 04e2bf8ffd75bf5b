/** What every step of a signstar-configure run gets: the config, where state lives, and how to report. */
import type { Config } from "../config/model.js";
import { ExitCode, SignstarError } from "../errors.js";
import type { AdminCredentials } from "../secrets/admin-credentials.js";
import type { CredsOptions } from "../secrets/systemd-creds.js";

export class ConfigureError extends SignstarError {
  constructor(message: string, exitCode: number = ExitCode.Config) {
    super(message, exitCode);
  }
}

/** The admin secret of this run: present, or absent with the reason (e.g. too few shares uploaded). */
export type AdminState =
  | { readonly kind: "present"; readonly creds: AdminCredentials; readonly origin: string }
  | { readonly kind: "absent"; readonly reason: string };

export interface RunContext {
  readonly config: Config;
  /** Root prefix of all state paths ("/" on a host). */
  readonly root: string;
  readonly dryRun: boolean;
  readonly now: () => Date;
  /** One line of progress or plan (stdout of signstar-configure). */
  readonly out: (line: string) => void;
  /** A loud warning (stderr of signstar-configure, so the journal and the operator see it). */
  readonly warn: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly credsOptions: CredsOptions;
  /** config.system.iteration is greater than the last applied one: objects removed from the config are removed. */
  readonly iterationIncreased: boolean;
  admin: AdminState;
}

/** The admin credentials, or a ConfigureError that says what needed them and why they are not available. */
export function requireAdmin(ctx: RunContext, what: string): AdminCredentials {
  if (ctx.admin.kind === "present") return ctx.admin.creds;
  throw new ConfigureError(`${what} needs the admin credentials, but ${ctx.admin.reason}`, ExitCode.Secret);
}

/** Runs a change, or in dry-run mode only prints it. */
export async function act(ctx: RunContext, description: string, change: () => Promise<void>): Promise<void> {
  if (ctx.dryRun) {
    ctx.out(`plan: ${description}`);
    return;
  }
  await change();
  ctx.out(`done: ${description}`);
}

export function info(ctx: RunContext, line: string): void {
  ctx.out(`info: ${line}`);
}
