/**
 * `signstar-admin wireguard-keygen` (root; signstar-wireguard-keygen.service at first boot): makes the host's
 * WireGuard key pair with `wg genkey` / `wg pubkey` if it is missing. The private key is written atomically,
 * owner root, mode 0600; the public key 0644 (read by signstar-download-wireguard). An existing valid private
 * key is kept; a missing or stale public key is re-derived from it. Keys travel on pipes only, never in argv.
 */
import { lstat, mkdir } from "node:fs/promises";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { ExitCode, SignstarError } from "../errors.js";
import { run } from "../os/run.js";
import { writeFileAtomic } from "../os/atomic-file.js";
import { hostLayout } from "../layout/host-layout.js";

const KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** A WireGuard key in wg's encoding (base64 of 32 bytes), or undefined. */
export function parseWireGuardKey(text: string): string | undefined {
  const t = text.replace(/\r?\n$/, "");
  return KEY.test(t) && Buffer.from(t, "base64").length === 32 ? t : undefined;
}

export async function readWireGuardPublicKey(root?: string): Promise<string> {
  const path = hostLayout(root).wireguardPublicKey;
  let data: Buffer;
  try {
    // Root's own file (0644, made by wireguard-keygen); a link an image build made is followed.
    ({ data } = await readCheckedFile(path, { what: "WireGuard public key", maxBytes: 128, followSymlinks: true }));
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    const p = e.problem;
    throw new SignstarError(
      p.kind !== "open"
        ? `${path} is not a WireGuard public key file`
        : p.code === "ENOENT"
          ? `the WireGuard public key ${path} does not exist (is signstar-wireguard-keygen.service enabled?)`
          : `cannot read ${path}: ${p.reason}`,
      ExitCode.Config,
    );
  }
  const key = parseWireGuardKey(data.toString("latin1"));
  if (key === undefined) throw new SignstarError(`${path} does not hold a WireGuard public key`, ExitCode.Config);
  return key;
}

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

/** The existing private key (root's regular file, mode 0600 or stricter), or undefined when there is none. */
async function readPrivateKey(path: string): Promise<string | undefined> {
  let data: Buffer;
  try {
    ({ data } = await readCheckedFile(path, { what: "WireGuard private key", maxBytes: 4096, owner: 0, clearBits: 0o077, exitCode: ExitCode.Secret }));
  } catch (e) {
    if (e instanceof FileReadError && e.problem.kind === "open" && e.problem.code === "ENOENT") return undefined;
    if (e instanceof FileReadError && e.problem.kind === "size") throw new SignstarError(`${path} does not hold a WireGuard private key`, ExitCode.Secret);
    if (e instanceof FileReadError) throw new SignstarError(`${path} must be a regular file owned by root with mode 0600`, ExitCode.Secret, { cause: e });
    throw e;
  }
  const key = parseWireGuardKey(data.toString("latin1"));
  data.fill(0);
  if (key === undefined) throw new SignstarError(`${path} does not hold a WireGuard private key`, ExitCode.Secret);
  return key;
}

export async function wireGuardKeygen(opts: { root?: string } = {}): Promise<KeygenResult> {
  if (process.geteuid?.() !== 0) throw new SignstarError("wireguard-keygen must run as root", ExitCode.Denied);
  const layout = hostLayout(opts.root);
  const dir = layout.wireguardDir;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const d = await lstat(dir);
  if (!d.isDirectory() || d.uid !== 0 || (d.mode & 0o022) !== 0) {
    throw new SignstarError(`${dir} must be a directory owned by root and writable by nobody else`, ExitCode.Config);
  }
  const privPath = layout.wireguardPrivateKey;
  const pubPath = layout.wireguardPublicKey;
  let privateKey = await readPrivateKey(privPath);
  const created = privateKey === undefined;
  if (privateKey === undefined) {
    privateKey = await wg(["genkey"]);
    await writeFileAtomic(privPath, `${privateKey}\n`, { mode: 0o600, uid: 0, gid: 0 });
  }
  const publicKey = await wg(["pubkey"], `${privateKey}\n`);
  const current = await readCheckedFile(pubPath, { what: "WireGuard public key", maxBytes: 128 }).then(
    (f) => f.data.toString("latin1"),
    () => "",
  );
  if (parseWireGuardKey(current) !== publicKey) await writeFileAtomic(pubPath, `${publicKey}\n`, { mode: 0o644, uid: 0, gid: 0 });
  return { created, publicKey, dir };
}
