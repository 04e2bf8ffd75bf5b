/**
 * Where a resident signer listens. Under systemd (signstar-signer@<user>.socket) the socket is passed in
 * (LISTEN_FDS/LISTEN_PID, sd_listen_fds(3)): systemd created it as root with SocketUser=<user>, SocketMode=0600.
 * Without systemd (containers, tests) the signer, running as its user, binds the path itself: the directory
 * /run/signstar/signer/<user>/ must already exist, be owned by that user and have mode 0700 (tmpfiles.d, written
 * by signstar-configure-build, makes it inside the root-owned /run/signstar/signer), so no other user can even
 * reach the socket, and the socket gets 0600 on top. Either way a request still passes the peer check
 * (lib/os/unix-socket.ts) before it is handled.
 */
import { lstat, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { dirname } from "node:path";
import { ExitCode, SignstarError } from "../errors.js";

/** sd_listen_fds(3): the first passed descriptor. */
const SD_LISTEN_FDS_START = 3;

export interface ListenOptions {
  readonly env: NodeJS.ProcessEnv;
  /** The socket path to bind when systemd passed none. */
  readonly path: string;
  /** The uid that must own the socket's directory (the signer's own). */
  readonly uid: number;
}

export interface Listening {
  readonly server: Server;
  /** "systemd" (passed in) or "bound" (our own path). */
  readonly how: "systemd" | "bound";
}

export async function listenSigner(opts: ListenOptions): Promise<Listening> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: false });
  const fds = Number(opts.env["LISTEN_FDS"] ?? "0");
  if (fds >= 1 && opts.env["LISTEN_PID"] === String(process.pid)) {
    await listening(server, { fd: SD_LISTEN_FDS_START });
    return { server, how: "systemd" };
  }
  const dir = dirname(opts.path);
  const info = await lstat(dir).catch(() => undefined);
  if (!info?.isDirectory() || info.uid !== opts.uid || (info.mode & 0o777) !== 0o700) {
    throw new SignstarError(`${dir} must be a directory owned by uid ${opts.uid} with mode 0700 (signstar-configure-build's tmpfiles.d entry makes it)`, ExitCode.Config);
  }
  // A socket left by a signer that died; anything else there is not ours to remove.
  const old = await lstat(opts.path).catch(() => undefined);
  if (old?.isSocket()) await unlink(opts.path);
  const umask = process.umask(0o177);
  try {
    await listening(server, { path: opts.path, exclusive: true });
  } finally {
    process.umask(umask);
  }
  return { server, how: "bound" };
}

function listening(server: Server, options: { fd: number } | { path: string; exclusive: boolean }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
