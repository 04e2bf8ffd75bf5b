/**
 * The peer of a connected Unix socket as the kernel recorded it at connect(2) (SO_PEERCRED, unix(7)), through
 * the small native addon lib/os/native/unix_socket.c (built by `npm run build:native`). Node has no API for it.
 */
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { ExitCode, SignstarError } from "../errors.js";

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

interface UnixSocketAddon {
  peerCredentials(fd: number): PeerCredentials;
}

const ADDON = "unix_socket.node";
/** Relative to this module: the source tree (lib/os/) and the compiled tree (dist/lib/os/). */
const CANDIDATES = [`./native/build/Release/${ADDON}`, `../../../lib/os/native/build/Release/${ADDON}`];

let addon: UnixSocketAddon | undefined;

function load(): UnixSocketAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  const problems: string[] = [];
  for (const rel of CANDIDATES) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    try {
      const m = require(path) as Partial<UnixSocketAddon>;
      if (typeof m.peerCredentials === "function") {
        addon = m as UnixSocketAddon;
        return addon;
      }
      problems.push(`${path}: unexpected exports`);
    } catch (e) {
      const code = e instanceof Error && "code" in e ? String((e as { code: unknown }).code) : "";
      if (code !== "MODULE_NOT_FOUND") problems.push(`${path}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
    }
  }
  throw new SignstarError(`the unix_socket addon is not available (${problems.join("; ") || "run npm run build:native"})`, ExitCode.Internal);
}

/** The descriptor behind a connected net.Socket (Node keeps it on the socket's internal handle). */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { readonly _handle?: { readonly fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new SignstarError("the socket has no file descriptor", ExitCode.Internal);
  return fd;
}

/** Who is at the other end of `socket` (a connected Unix stream socket). */
export function peerCredentials(socket: Socket): PeerCredentials {
  return load().peerCredentials(socketFd(socket));
}
