/** Carries out host actions in order: accounts, homes, files, stale-file removal. */
import { chmod, chown, mkdir, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomic, syncDirectory } from "../secrets/atomic-file.js";
import { requireUser } from "./accounts.js";
import type { HostAction } from "./actions.js";
import { HostError } from "./errors.js";
import { formatCommand, run } from "./run.js";

async function runChecked(argv: readonly string[]): Promise<void> {
  const result = await run(argv, { timeoutMs: 60_000 });
  if (result.code !== 0) {
    throw new HostError(`The command exited with non-zero status ${String(result.code)} (${formatCommand(argv)}): ${result.stderr.trim().split("\n")[0] ?? ""}`);
  }
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export async function applyAction(action: HostAction): Promise<void> {
  switch (action.kind) {
    case "create-user":
    case "update-user":
      for (const argv of action.commands) await runChecked(argv);
      return;
    case "ensure-home": {
      const user = await requireUser(action.user);
      await mkdir(dirname(action.path), { recursive: true, mode: 0o755 });
      try {
        await mkdir(action.path, { mode: 0o700 });
      } catch (error) {
        if (errnoCode(error) !== "EEXIST") throw error;
      }
      await chown(action.path, user.uid, user.gid);
      await chmod(action.path, 0o700);
      return;
    }
    case "write-file":
      await mkdir(dirname(action.file.path), { recursive: true, mode: 0o755 });
      await writeFileAtomic(action.file.path, action.file.content, { mode: action.file.mode });
      return;
    case "remove-file":
      try {
        await unlink(action.path);
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error;
      }
      await syncDirectory(dirname(action.path));
      return;
  }
}
