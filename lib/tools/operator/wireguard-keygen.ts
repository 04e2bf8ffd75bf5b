/**
 * `signstar-admin wireguard-keygen` (root; signstar-wireguard-keygen.service at first boot): makes the host's
 * WireGuard key pair with `wg genkey` / `wg pubkey` if it is missing. The private key is written atomically,
 * owner root, mode 0600; the public key 0644 (read by signstar-download-wireguard). An existing valid private
 * key is kept; a missing or stale public key is re-derived from it. Keys travel on pipes only, never in argv.
 */
import { lstat, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ExitCode, SignstarError } from "../../errors.js";
import { run } from "../../host/run.js";
import { writeFileAtomic } from "../../secrets/atomic-file.js";
import { parseWireGuardKey } from "../download-wireguard.js";
import { hostPath, WIREGUARD_DIR, WIREGUARD_PRIVATE_KEY, WIREGUARD_PUBLIC_KEY } from "./paths.js";

export interface KeygenResult {
  readonly created: boolean;
  readonly publicKey: string;
  readonly dir: string;
}

async function wg(args: string[], input?: string): Promise<string> {
  const r = await run(["wg", ...args], { timeoutMs: 10_000, maxOutput: 1024, ...(input !== undefined ? { input } : {}) });
  if (r.code !== 0) throw new SignstarError(`wg ${args.join(" ")} failed with status ${String(r.code)}`, ExitCode.Internal);
  const key = parseWireGuardKey(r.stdout.toString("latin1"));
  if (key === undefined) throw new SignstarError(`wg ${args.join(" ")} printed no key`, ExitCode.Internal);
  return key;
}

export async function wireGuardKeygen(opts: { root?: string } = {}): Promise<KeygenResult> {
  if (process.geteuid?.() !== 0) throw new SignstarError("wireguard-keygen must run as root", ExitCode.Denied);
  const dir = hostPath(opts.root, WIREGUARD_DIR);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const d = await lstat(dir);
  if (!d.isDirectory() || d.uid !== 0 || (d.mode & 0o022) !== 0) {
    throw new SignstarError(`${dir} must be a directory owned by root and writable by nobody else`, ExitCode.Config);
  }
  const privPath = join(dir, WIREGUARD_PRIVATE_KEY);
  const pubPath = join(dir, WIREGUARD_PUBLIC_KEY);
  let privateKey: string | undefined;
  const st = await lstat(privPath).catch(() => undefined);
  if (st) {
    if (!st.isFile() || st.uid !== 0 || (st.mode & 0o077) !== 0) {
      throw new SignstarError(`${privPath} must be a regular file owned by root with mode 0600`, ExitCode.Secret);
    }
    privateKey = parseWireGuardKey((await readFile(privPath)).toString("latin1"));
    if (privateKey === undefined) throw new SignstarError(`${privPath} does not hold a WireGuard private key`, ExitCode.Secret);
  }
  const created = privateKey === undefined;
  if (privateKey === undefined) {
    privateKey = await wg(["genkey"]);
    await writeFileAtomic(privPath, `${privateKey}\n`, { mode: 0o600, uid: 0, gid: 0 });
  }
  const publicKey = await wg(["pubkey"], `${privateKey}\n`);
  const current = await readFile(pubPath, "latin1").catch(() => "");
  if (parseWireGuardKey(current) !== publicKey) await writeFileAtomic(pubPath, `${publicKey}\n`, { mode: 0o644, uid: 0, gid: 0 });
  return { created, publicKey, dir };
}
