/**
 * What monitoring reads of a log directory without the log key (the metrics export): the size in its checkpoint
 * (not verified: a figure to watch, not a proof), when the checkpoint was written, and the running writer's figures
 * (STATS_FILE, written by LogWriter at most once a second).
 */
import { join } from "node:path";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { LogFormatError } from "./errors.js";
import { STATS_FILE, type LogWriterStats } from "./writer.js";

export interface LogStatus {
  readonly size: number;
  readonly checkpointMtimeMs: number;
  readonly writer: Partial<Pick<LogWriterStats, "appendedEntries" | "appendLatencySumMs" | "batches">>;
}

export async function readLogStatus(dir: string): Promise<LogStatus> {
  const { data, stat } = await readCheckedFile(join(dir, "checkpoint"), { what: "signing log checkpoint", maxBytes: 16 * 1024 });
  const m = /^[^\n]+\n(0|[1-9][0-9]{0,15})\n/.exec(data.toString("utf8"));
  if (!m) throw new LogFormatError(`the signing log's checkpoint in ${dir} is malformed`);
  const writer: { -readonly [K in keyof LogStatus["writer"]]: number } = {};
  try {
    const raw = JSON.parse((await readCheckedFile(join(dir, STATS_FILE), { what: "log writer figures", maxBytes: 4096 })).data.toString("utf8")) as Record<string, unknown>;
    for (const k of ["appendedEntries", "appendLatencySumMs", "batches"] as const) {
      const v = raw[k];
      if (typeof v === "number" && Number.isFinite(v) && v >= 0) writer[k] = v;
    }
  } catch (error) {
    if (!(error instanceof FileReadError || error instanceof SyntaxError)) throw error;
  }
  return { size: Number(m[1]), checkpointMtimeMs: stat.mtimeMs, writer };
}
