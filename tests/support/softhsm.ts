/**
 * SoftHSMv2 token factory for tests: a private SOFTHSM2_CONF and token directory under os.tmpdir(), tokens
 * initialized with label, SO PIN and user PIN, and cleanup.
 *
 * Tokens are initialized in a short-lived child node process (raw pkcs11js, PINs passed on stdin – never in
 * argv or env; softhsm2-util only reads PINs from argv or a TTY), so the test process's own SoftHSM instance
 * is never initialized by the factory and stays free for the code under test.
 * SoftHSM reads SOFTHSM2_CONF at C_Initialize: call `activate()` (sets process.env.SOFTHSM2_CONF) before
 * opening, or pass `env` to child processes.
 */
import { spawn } from "node:child_process";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so";

export interface SoftHsmTokenSpec {
  readonly label: string;
  readonly soPin?: string;
  readonly userPin?: string;
}

export interface SoftHsmToken {
  readonly label: string;
  readonly serial: string;
  readonly soPin: string;
  readonly userPin: string;
}

export interface SoftHsm {
  readonly module: string;
  readonly dir: string;
  readonly confPath: string;
  readonly tokenDir: string;
  /** The first token (created by createSoftHsm unless `tokens: []`). */
  readonly token: SoftHsmToken;
  readonly tokens: readonly SoftHsmToken[];
  /** Environment for child processes that use this SoftHSM. */
  readonly env: { readonly SOFTHSM2_CONF: string };
  /** Points this process's SoftHSM at this directory (process.env.SOFTHSM2_CONF). */
  activate(): void;
  /** Initializes one more token in a free slot. */
  addToken(spec: SoftHsmTokenSpec): Promise<SoftHsmToken>;
  cleanup(): Promise<void>;
}

const require = createRequire(import.meta.url);

const INIT_SCRIPT = `
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  const a = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const pkcs11js = require(a.pkcs11js);
  const p = new pkcs11js.PKCS11();
  p.load(a.module);
  p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  try {
    const free = p.C_GetSlotList(true).find((s) => (p.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0);
    if (!free) throw new Error("no free SoftHSM slot");
    p.C_InitToken(free, a.soPin, a.label.padEnd(32, " "));
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === a.label);
    const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p.C_Login(s, pkcs11js.CKU_SO, a.soPin);
    p.C_InitPIN(s, a.userPin);
    p.C_Logout(s);
    p.C_CloseSession(s);
    process.stdout.write(JSON.stringify({ serial: p.C_GetTokenInfo(slot).serialNumber.trim() }));
  } finally {
    p.C_Finalize();
  }
});
`;

function runInit(env: NodeJS.ProcessEnv, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", INIT_SCRIPT], { env, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`SoftHSM token init failed (${code}): ${err.trim().split("\n")[0]}`))));
    child.stdin.end(input);
  });
}

let counter = 0;

export async function createSoftHsm(opts: { tokens?: readonly SoftHsmTokenSpec[] } = {}): Promise<SoftHsm> {
  const dir = await mkdtemp(join(tmpdir(), `signstar-softhsm-${process.pid}-${++counter}-`));
  const tokenDir = join(dir, "tokens");
  await mkdir(tokenDir, { mode: 0o700 });
  const confPath = join(dir, "softhsm2.conf");
  await writeFile(confPath, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: confPath };
  const tokens: SoftHsmToken[] = [];
  const addToken = async (spec: SoftHsmTokenSpec): Promise<SoftHsmToken> => {
    const soPin = spec.soPin ?? "87654321";
    const userPin = spec.userPin ?? "123456";
    const out = await runInit(
      { PATH: process.env["PATH"] ?? "/usr/bin:/bin", SOFTHSM2_CONF: confPath },
      JSON.stringify({ pkcs11js: require.resolve("pkcs11js"), module: SOFTHSM_MODULE, label: spec.label, soPin, userPin }),
    );
    const { serial } = JSON.parse(out) as { serial: string };
    const t = { label: spec.label, serial, soPin, userPin };
    tokens.push(t);
    return t;
  };
  try {
    for (const spec of opts.tokens ?? [{ label: "signstar" }]) await addToken(spec);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    module: SOFTHSM_MODULE,
    dir,
    confPath,
    tokenDir,
    get token(): SoftHsmToken {
      const t = tokens[0];
      if (t === undefined) throw new Error("this SoftHSM has no token");
      return t;
    },
    tokens,
    env,
    activate: () => {
      process.env["SOFTHSM2_CONF"] = confPath;
    },
    addToken,
    cleanup: async () => {
      if (process.env["SOFTHSM2_CONF"] === confPath) delete process.env["SOFTHSM2_CONF"];
      await rm(dir, { recursive: true, force: true });
    },
  };
}
