/**
 * p11-kit for tests: a `p11-kit server` exporting one token of a module on a unix socket in a temp dir, and
 * the inetd-style variant the shipped systemd units use (systemd-socket-activate --accept running
 * `p11-kit remote` per connection). Clients use P11_KIT_CLIENT_MODULE with P11_KIT_SERVER_ADDRESS=address.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const P11_KIT_CLIENT_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";

export interface P11KitServer {
  /** Value for P11_KIT_SERVER_ADDRESS. */
  readonly address: string;
  readonly socketPath: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface P11KitServerOptions {
  /** Module the server loads, e.g. SOFTHSM_MODULE. */
  readonly provider: string;
  /** Token URI, e.g. `pkcs11:token=signstar`. */
  readonly tokenUri: string;
  /** Environment for the server (e.g. SOFTHSM2_CONF); PATH is added. */
  readonly env: Readonly<Record<string, string>>;
  /** "server": `p11-kit server -f`; "inetd": systemd-socket-activate --accept + `p11-kit remote`, as the units. */
  readonly mode?: "server" | "inetd";
  /** Listen here (its directory must exist and is left in place) instead of in a new temporary directory. */
  readonly socketPath?: string;
}

async function waitForSocket(path: string, child: ChildProcess, stderr: () => string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`p11-kit exited early (${child.exitCode}): ${stderr().trim()}`);
    if (existsSync(path)) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(path);
        s.on("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.on("error", () => resolve(false));
      });
      if (ok) return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`p11-kit socket ${path} did not appear: ${stderr().trim()}`);
}

export async function startP11KitServer(opts: P11KitServerOptions): Promise<P11KitServer> {
  const dir = opts.socketPath === undefined ? await mkdtemp(join(tmpdir(), `signstar-p11kit-${process.pid}-`)) : undefined;
  const socketPath = opts.socketPath ?? join(dir!, "pkcs11");
  const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...opts.env };
  const child =
    opts.mode === "inetd"
      ? spawn(
          "systemd-socket-activate",
          [
            "--accept",
            "--inetd",
            "--listen",
            socketPath,
            ...Object.keys(opts.env).flatMap((k) => ["-E", k]),
            "/usr/bin/p11-kit",
            "remote",
            "--provider",
            opts.provider,
            opts.tokenUri,
          ],
          { env, stdio: ["ignore", "ignore", "pipe"] },
        )
      : spawn("p11-kit", ["server", "-f", "--provider", opts.provider, "-n", socketPath, opts.tokenUri], {
          env,
          stdio: ["ignore", "ignore", "pipe"],
        });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString();
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    else await rm(socketPath, { force: true });
  };
  try {
    await waitForSocket(socketPath, child, () => stderr);
  } catch (e) {
    await stop();
    throw e;
  }
  if (child.pid === undefined) throw new Error("p11-kit did not start");
  return { address: `unix:path=${socketPath}`, socketPath, pid: child.pid, stop };
}
