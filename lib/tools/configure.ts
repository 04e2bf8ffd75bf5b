/** signstar-configure's tool layer: root only; runs lib/configure (or the expired-share wipe for the timer). */
import type { ConfigLocation } from "../config/load.js";
import { configure, wipeExpiredShares } from "../configure/run.js";
import { ExitCode, SignstarError } from "../errors.js";
import type { Caller } from "../caller/caller.js";

export interface ConfigureToolInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly root?: string;
  readonly dryRun?: boolean;
  /** Only wipe expired uploaded shares (signstar-share-wipe.service). */
  readonly wipeExpiredShares?: boolean;
  readonly out: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

export async function configureTool(input: ConfigureToolInput): Promise<void> {
  if (input.caller.uid !== 0) {
    throw new SignstarError(`signstar-configure must be run as root, but it runs as "${input.caller.name}"`, ExitCode.Denied);
  }
  if (input.wipeExpiredShares) {
    await wipeExpiredShares({ ...(input.root !== undefined ? { root: input.root } : {}), out: input.out });
    return;
  }
  await configure({
    config: input.config,
    ...(input.root !== undefined ? { root: input.root } : {}),
    dryRun: input.dryRun ?? false,
    out: input.out,
    env: input.env,
  });
}
