/**
 * PKCS#11 part of signstar-configure, per token:
 *   1. find the token (by label or serial) and the user PIN it accepts (from the signing users' secret files,
 *      `.next` first: see ./secret-rotation.ts);
 *   2. set a fresh user PIN, crash-safely: `.next` files → one backend call → renames. The backend call is
 *      C_InitToken + C_InitPIN for a token that does not exist yet (SO PIN from the admin credentials),
 *      C_SetPIN with the PIN found in 1, or C_InitPIN as security officer when no stored PIN works;
 *   3. every configured key exists and carries its OpenPGP certificate (ensurePkcs11SigningKey);
 *   4. keys on the token that no mapping uses are deleted only when the config iteration increased.
 * One token has ONE user PIN shared by all its signing users, so it is rotated once per token per run and
 * every one of those users gets the same new secret file.
 */
import { requireUser } from "../os/accounts.js";
import type { Pkcs11Mapping, TokenSelector } from "../config/model.js";
import { LOG_KEY_LABEL, LOG_KEY_SETUP, LOG_WRITER_USER, pkcs11BackendUser } from "../config/model.js";
import { soPinFor } from "../secrets/admin-credentials.js";
import { generatePassphrase } from "../secrets/passphrase.js";
import { act, ConfigureError, info, requireAdmin, type RunContext } from "./context.js";
import { crashPoint } from "./crash.js";
import { ensurePkcs11SigningKey } from "./pkcs11-keys.js";
import { keepTokenAccess } from "./token-access.js";
import { candidateSecrets, commitNextSecret, writeNextSecret, type RotationTarget, type SecretCopy } from "./secret-rotation.js";

type SigningMapping = Extract<Pkcs11Mapping, { kind: "signing" }>;

/** Length of generated token user PINs (PKCS#11 tokens commonly accept up to 255; some fewer). */
export const USER_PIN_LENGTH = 32;

function tokenKey(t: TokenSelector): string {
  return "label" in t ? `label:${t.label}` : `serial:${t.serial}`;
}

function tokenName(t: TokenSelector): string {
  return "label" in t ? `pkcs11 token label "${t.label}"` : `pkcs11 token serial "${t.serial}"`;
}

function keyRefOfSelector(k: SigningMapping["key"]): string {
  return "label" in k ? `label:${k.label}` : `id:${k.id}`;
}

/**
 * The users that get a token's user PIN besides its signing users: on the signing log's token
 * (signing_log.pkcs11_token) the log writer's user alone (validation keeps signing users off that token).
 */
function pinUsersOf(ctx: RunContext, token: TokenSelector): string[] {
  const logKey = ctx.config.system.signingLog?.key;
  return logKey?.kind === "pkcs11" && "label" in token && token.label === logKey.token ? [LOG_WRITER_USER] : [];
}

export async function reconcilePkcs11(ctx: RunContext): Promise<void> {
  const section = ctx.config.pkcs11;
  if (section === undefined) return;
  for (const { token, signing } of tokensOf(section.mappings).values()) {
    const extra = pinUsersOf(ctx, token);
    await reconcileToken(ctx, section.module, token, signing, extra);
    // On every run, changed or not: this run (or an earlier one, or an operator) may have written root-only files.
    await keepTokenAccess(ctx, section.module, token, [...signing.map((m) => m.systemUser), ...extra]);
  }
}

function tokensOf(mappings: readonly Pkcs11Mapping[]): Map<string, { token: TokenSelector; signing: SigningMapping[] }> {
  const tokens = new Map<string, { token: TokenSelector; signing: SigningMapping[] }>();
  for (const m of mappings) {
    if (m.kind !== "signing" && m.kind !== "admin") continue;
    const token: TokenSelector = m.token;
    const entry = tokens.get(tokenKey(token)) ?? { token, signing: [] as SigningMapping[] };
    if (m.kind === "signing") entry.signing.push(m);
    tokens.set(tokenKey(token), entry);
  }
  return tokens;
}

/**
 * Before anything changes: every token that will need the SO PIN this run (not initialized yet, or no stored
 * user PIN is accepted) is found now, so a run without the admin secret fails before it rotates any PIN.
 */
export async function requireAdminForPkcs11(ctx: RunContext): Promise<void> {
  const section = ctx.config.pkcs11;
  if (section === undefined) return;
  const target: RotationTarget = { root: ctx.root, handling: ctx.config.system.nonAdminSecretHandling, credsOptions: ctx.credsOptions };
  for (const { token, signing } of tokensOf(section.mappings).values()) {
    const name = tokenName(token);
    if (!(await probeToken(section.module, token))) {
      requireAdmin(ctx, `initializing ${name}`);
      continue;
    }
    const copies: SecretCopy[] = [];
    for (const u of [...signing.map((m) => m.systemUser), ...pinUsersOf(ctx, token)]) copies.push({ owner: await requireUser(u), backendUser: pkcs11BackendUser(token) });
    if ((await findWorkingPin(section.module, token, await candidateSecrets(target, copies))) === undefined) {
      requireAdmin(ctx, `resetting the user PIN of ${name} (no stored PIN is accepted)`);
    }
  }
}

async function probeToken(module: string, token: TokenSelector): Promise<boolean> {
  const { pkcs11TokenPresent } = await import("../backends/pkcs11/index.js");
  return pkcs11TokenPresent(module, token, 10_000);
}

/** The first candidate PIN the token accepts, or undefined (none works, the PIN is locked or was never set). */
async function findWorkingPin(module: string, token: TokenSelector, candidates: readonly string[]): Promise<string | undefined> {
  const p11 = await import("../backends/pkcs11/index.js");
  for (const pin of candidates) {
    try {
      const admin = await p11.openPkcs11Admin({ module, token, userPin: pin });
      await admin.close();
      return pin;
    } catch (error) {
      if (error instanceof p11.Pkcs11PinLockedError) return undefined;
      if (error instanceof p11.Pkcs11PinError) continue;
      if (error instanceof p11.Pkcs11Error && /CKR_USER_PIN_NOT_INITIALIZED/.test(error.message)) return undefined;
      throw error;
    }
  }
  return undefined;
}

async function reconcileToken(ctx: RunContext, module: string, token: TokenSelector, signing: readonly SigningMapping[], pinUsers: readonly string[]): Promise<void> {
  const name = tokenName(token);
  const target: RotationTarget = { root: ctx.root, handling: ctx.config.system.nonAdminSecretHandling, credsOptions: ctx.credsOptions };
  const copies: SecretCopy[] = [];
  for (const u of [...signing.map((m) => m.systemUser), ...pinUsers]) copies.push({ owner: await requireUser(u), backendUser: pkcs11BackendUser(token) });
  const logOrigin = pinUsers.includes(LOG_WRITER_USER) ? ctx.config.system.signingLog?.origin : undefined;
  const users = copies.map((c) => c.owner.name).join(", ") || "no signing users";

  const present = await probeToken(module, token);
  const current = present ? await findWorkingPin(module, token, await candidateSecrets(target, copies)) : undefined;
  let soPin: string | undefined;
  if (!present || current === undefined) {
    const why = present ? `resetting the user PIN of ${name} (no stored PIN is accepted)` : `initializing ${name}`;
    if (!present && "serial" in token) {
      throw new ConfigureError(`${name} does not exist; a token selected by serial cannot be created: initialize it with the vendor's tool`);
    }
    const admin = requireAdmin(ctx, why);
    soPin = soPinFor(admin, token);
    if (soPin === undefined) throw new ConfigureError(`${why} needs the SO PIN of ${name}, but the admin credentials have none for it`);
  }

  const how = !present ? "initialize the token with the SO PIN and a new user PIN" : current === undefined ? "reset the user PIN as security officer" : "rotate the user PIN";
  const pin = generatePassphrase(USER_PIN_LENGTH);
  await act(ctx, `${name}: ${how}; write it to the secret files of ${users}`, async () => {
    for (const c of copies) await writeNextSecret(target, c, pin);
    crashPoint("pkcs11:after-next-written", ctx.env);
    const p11 = await import("../backends/pkcs11/index.js");
    if (!present && "label" in token) {
      await p11.initPkcs11Token({ module, label: token.label, soPin: soPin!, userPin: pin });
    } else if (current !== undefined) {
      await p11.changePkcs11UserPin({ module, token, oldPin: current, newPin: pin });
    } else {
      await p11.setPkcs11UserPin({ module, token, soPin: soPin!, newPin: pin });
    }
    crashPoint("pkcs11:after-pin-set", ctx.env);
    for (const [i, c] of copies.entries()) {
      await commitNextSecret(target, c);
      if (i === 0) crashPoint("pkcs11:after-first-rename", ctx.env);
    }
  });

  // Keys and certificates (with the PIN now in force; in a dry run with the one found, if any).
  const usePin = ctx.dryRun ? current : pin;
  if (usePin === undefined) {
    if (signing.length > 0) info(ctx, `${name}: keys are checked once the user PIN is set`);
    return;
  }
  const p11 = await import("../backends/pkcs11/index.js");
  const listKeys = async () => {
    const a = await p11.openPkcs11Admin({ module, token, userPin: usePin });
    try {
      return await a.listKeys();
    } finally {
      await a.close();
    }
  };
  const existing = await listKeys();
  for (const m of signing) {
    const ref = keyRefOfSelector(m.key);
    const have = existing.find((k) => k.ref === ref);
    if (have !== undefined && have.openpgpFingerprint !== undefined) continue;
    const what = have === undefined ? "generate key and its OpenPGP certificate" : "create the OpenPGP certificate of key";
    await act(ctx, `${name}: ${what} ${ref} for ${m.systemUser}`, async () => {
      const ensured = await ensurePkcs11SigningKey({ module, token, key: m.key, setup: m.keySetup, userPin: usePin, now: ctx.now() });
      info(ctx, `${name}: key ${ref} has OpenPGP fingerprint ${ensured.fingerprint}`);
      crashPoint("pkcs11:after-key", ctx.env);
    });
  }
  if (logOrigin !== undefined && !existing.some((k) => k.ref === `label:${LOG_KEY_LABEL}`)) {
    // Made once; checkLogKey (a precondition of the run) has refused a token whose key log.vkey does not name.
    await act(ctx, `${name}: generate the signing log key label:${LOG_KEY_LABEL} (Ed25519, origin ${logOrigin})`, async () => {
      const a = await p11.openPkcs11Admin({ module, token, userPin: usePin });
      try {
        await a.generateKey(`label:${LOG_KEY_LABEL}`, LOG_KEY_SETUP);
      } finally {
        await a.close();
      }
      crashPoint("log:after-key", ctx.env);
    });
  }
  const wanted = new Set([...signing.map((m) => keyRefOfSelector(m.key)), ...(logOrigin !== undefined ? [`label:${LOG_KEY_LABEL}`] : [])]);
  const unused = existing.filter((k) => !wanted.has(k.ref) && !wanted.has(`label:${k.label}`) && !wanted.has(`id:${k.id}`));
  for (const k of unused) {
    if (!ctx.iterationIncreased) {
      info(ctx, `${name}: key ${k.ref} is not in the config; it is kept until the config iteration is increased`);
      continue;
    }
    await act(ctx, `${name}: delete key ${k.ref} (no longer in the config, iteration increased)`, async () => {
      const a = await p11.openPkcs11Admin({ module, token, userPin: usePin });
      try {
        await a.deleteKey(k.ref);
      } finally {
        await a.close();
      }
    });
  }
}
