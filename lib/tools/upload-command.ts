/**
 * The executable side of signstar-upload-backup and signstar-upload-update: --config, the size bound
 * (--max-bytes N, else the administrator's environment variable, else the tool's default), an abort when the
 * SSH session goes away, and the receipt on stdout.
 */
import type { Readable } from "node:stream";
import { runTool, toolContext, type ToolContext } from "./force-command.js";
import { usageError } from "./usage.js";

export interface UploadToolInput extends ToolContext {
  readonly stdin: Readable;
  readonly signal: AbortSignal;
  readonly maxBytes?: number;
}

function integer(text: string | undefined, what: string, synopsis: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (!/^[0-9]{1,12}$/.test(text)) throw usageError(new Error(`${what} must be a positive integer`), synopsis);
  return Number(text);
}

/** Runs `upload` (uploadBackup, uploadUpdate) as the executable `program`; `envVar` names the bound's variable. */
export function runUploadTool(program: string, envVar: string, upload: (input: UploadToolInput) => Promise<string>): void {
  const synopsis = `${program} [--config FILE] [--max-bytes N] < file`;
  runTool(program, { options: { config: { type: "string" }, "max-bytes": { type: "string" } }, synopsis }, async (args) => {
    const maxBytes = integer(args["max-bytes"], "--max-bytes", synopsis) ?? integer(process.env[envVar], envVar, synopsis);
    const abort = new AbortController();
    for (const signal of ["SIGHUP", "SIGTERM", "SIGINT", "SIGPIPE"] as const) process.once(signal, () => abort.abort());
    return upload({
      stdin: process.stdin,
      ...toolContext(program, args.config),
      signal: abort.signal,
      ...(maxBytes !== undefined ? { maxBytes } : {}),
    });
  });
}
