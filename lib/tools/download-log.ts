/**
 * signstar-download-log (ForceCommand of log_reader users): serves one file of the signing log per SSH call,
 * read-only, named by the command the client asked for (SSH_ORIGINAL_COMMAND): `checkpoint` (also the empty
 * command), `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` (C2SP tlog-tiles, https://c2sp.org/tlog-tiles).
 *
 * The request is parsed by `parseLogPath` (lib/tlog/tiles.ts) and nothing else reaches the file system: a path that
 * does not parse (`..`, absolute, overlong, control characters, any other file of the directory such as `.lock`)
 * is refused with exit code BadInput. The file is opened without following symbolic links anywhere below the log
 * directory (O_NOFOLLOW, and the descriptor's own path must be the expected one), must be a regular file and at
 * most MAX_LOG_FILE_BYTES. A well-formed path the log does not hold (yet) is NotFound (exit 11): a client tells
 * "no such tile yet" (a partial tile replaced by its full tile, a tile beyond the tree) from a bad request.
 */
import { realpath } from "node:fs/promises";
import { join } from "node:path";
import type { ConfigLocation } from "../config/load.js";
import type { Caller } from "../caller/caller.js";
import { requireRole } from "../caller/role.js";
import { ExitCode, SignstarError } from "../errors.js";
import { hostLayout } from "../layout/host-layout.js";
import { withAudit } from "../log/audit.js";
import type { LogSink } from "../log/syslog.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { MAX_LOG_FILE_BYTES } from "../tlog/reader.js";
import { parseLogPath, tilePath } from "../tlog/tiles.js";

export interface DownloadLogInput {
  readonly caller: Caller;
  readonly config: ConfigLocation;
  readonly log: LogSink;
  /** SSH_ORIGINAL_COMMAND (undefined or empty: the checkpoint). */
  readonly request: string | undefined;
  /** Root prefix of the host's paths (SIGNSTAR_ROOT). */
  readonly root?: string;
}

/** How much of a refused request the audit entry quotes. */
const AUDITED_REQUEST_CHARS = 100;

export async function downloadLog(input: DownloadLogInput): Promise<Uint8Array> {
  const request = input.request ?? "";
  const events = {
    log: input.log,
    success: { event: "log file served", severity: "info" as const },
    refusal: "log file refused",
    fields: { user: input.caller.name, path: request.slice(0, AUDITED_REQUEST_CHARS) },
  };
  return withAudit(events, async (audit) => {
    const { config } = await requireRole(input.caller, input.config, ["log_reader"], "signstar-download-log");
    if (config.system.signingLog === undefined) throw new SignstarError("the configuration has no signing_log: there is no signing log to serve", ExitCode.Config);
    const parsed = parseLogPath(request === "" ? "checkpoint" : request);
    // The canonical spelling of what parsed (it is the request itself; parseLogPath accepts only canonical paths).
    const path = parsed.kind === "checkpoint" ? "checkpoint" : tilePath(parsed);
    const dir = hostLayout(input.root).signingLogDir;
    let realDir: string;
    try {
      realDir = await realpath(dir);
    } catch (error) {
      throw new SignstarError(`the signing log directory ${dir} cannot be opened (${(error as NodeJS.ErrnoException).code ?? "error"})`, ExitCode.Config, { cause: error });
    }
    let data: Buffer;
    try {
      data = (await readCheckedFile(join(realDir, path), { what: "log file", maxBytes: MAX_LOG_FILE_BYTES, realPath: join(realDir, path) })).data;
    } catch (error) {
      if (error instanceof FileReadError && error.problem.kind === "open" && (error.problem.code === "ENOENT" || error.problem.code === "ENOTDIR")) {
        throw new SignstarError(`the log has no ${path} (yet)`, ExitCode.NotFound);
      }
      throw error;
    }
    audit.set({ path, bytes: data.length });
    return new Uint8Array(data);
  });
}
