/**
 * p11-kit for tests: a `p11-kit server` exporting one token of a module on a unix socket in a temp dir, and
 * the inetd-style variant the shipped systemd units use (systemd-socket-activate --accept running
 * `p11-kit remote` per connection). Clients use P11_KIT_CLIENT_MODULE with P11_KIT_SERVER_ADDRESS=address.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
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

/** `Key=` values of a unit file's section (later lines add to a key, as systemd's list settings do). */
export function unitSettings(text: string, section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      current = s[1]!;
      continue;
    }
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m && current === section) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

export interface P11KitUnitOptions {
  /** Where the private host is entered: the production flow's host. */
  readonly host: {
    spawn(argv: readonly string[], opts?: import("node:child_process").SpawnOptions): ChildProcess;
    run(argv: readonly string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }>;
    path(p: string): string;
  };
  /** The shipped p11-kit-signstar.socket and p11-kit-signstar@.service texts. */
  readonly socketUnit: string;
  readonly serviceUnit: string;
}

/**
 * Runs the shipped units on a private host the way systemd would, without systemd: the socket at the unit's
 * ListenStream with its SocketUser/SocketGroup/SocketMode, and per connection (Accept=yes) the service's
 * ExecStart as its User=/Group= with their groups (initgroups, as systemd), its UMask=, and the environment of
 * its EnvironmentFile= (read on the host, ${VAR} expanded as systemd does). The sandboxing settings need systemd
 * itself; `systemd-analyze security` checks those.
 */
export async function startP11KitUnits(opts: P11KitUnitOptions): Promise<{ readonly socketPath: string; stop(): Promise<void> }> {
  const sock = unitSettings(opts.socketUnit, "Socket");
  const svc = unitSettings(opts.serviceUnit, "Service");
  const one = (m: Map<string, string[]>, k: string): string => {
    const v = m.get(k);
    if (v === undefined || v.length !== 1) throw new Error(`unit: expected one ${k}=, found ${v?.length ?? 0}`);
    return v[0]!;
  };
  const socketPath = one(sock, "ListenStream");
  const user = one(svc, "User");
  const group = one(svc, "Group");
  const umask = one(svc, "UMask");
  const envFile = one(svc, "EnvironmentFile").replace(/^-/, "");
  const env: Record<string, string> = {};
  for (const line of (await readFile(opts.host.path(envFile), "utf8")).split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.trim();
  }
  const exec = one(svc, "ExecStart")
    .split(/\s+/)
    .map((w) => w.replace(/^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/, (_, k: string) => env[k] ?? ""));
  const dirMode = one(sock, "DirectoryMode");
  await opts.host.run(["install", "-d", "-m", dirMode, socketPath.replace(/\/[^/]+$/, "")]);
  const child = opts.host.spawn(
    [
      "systemd-socket-activate",
      "--accept",
      "--inetd",
      "--listen",
      socketPath,
      ...Object.keys(env).flatMap((k) => ["-E", k]),
      "sh",
      "-c",
      `umask ${umask} && exec setpriv --reuid=${user} --regid=${group} --init-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"`,
      "sh",
      ...exec,
    ],
    { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString();
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGKILL");
      await exited;
    }
  };
  try {
    await waitForSocket(opts.host.path(socketPath), child, () => stderr);
    // SocketUser=/SocketGroup=/SocketMode= (systemd sets them on the socket it binds).
    const r = await opts.host.run(["sh", "-c", `chown ${one(sock, "SocketUser")}:${one(sock, "SocketGroup")} ${socketPath} && chmod ${one(sock, "SocketMode")} ${socketPath}`]);
    if (r.code !== 0) throw new Error(`socket owner/mode: ${r.stderr.trim()}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { socketPath, stop };
}
