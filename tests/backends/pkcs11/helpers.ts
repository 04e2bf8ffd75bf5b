/** Shared helpers of the PKCS#11 tests: key setups, verification with node:crypto and the openssl CLI. */
import { execFile, spawn } from "node:child_process";
import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { KeySetup, KeyType } from "../../../lib/config/model.js";
import { publicKeyToJwk } from "../../../lib/signing/public-key.js";
import type { PublicKey } from "../../../lib/signing/signer.js";

const run = promisify(execFile);
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export function setupFor(keyType: KeyType, keyLength?: number): KeySetup {
  const mech = keyType === "Curve25519" ? "EdDsaSignature" : keyType === "Rsa" ? "RsaSignaturePkcs1" : "EcdsaSignature";
  const sig =
    keyType === "Curve25519" ? "EdDsa" : keyType === "Rsa" ? "Pkcs1" : (`Ecdsa${keyType.slice(2)}` as "EcdsaP256");
  return {
    keyType,
    keyMechanisms: [mech],
    signatureType: sig,
    ...(keyLength !== undefined ? { keyLength } : {}),
    openpgp: { userIds: ["Signstar Test <test@example.org>"], version: 4 },
  };
}

export function keyObjectOf(pk: PublicKey): KeyObject {
  return createPublicKey({ key: publicKeyToJwk(pk), format: "jwk" });
}

export function sha512(data: Uint8Array | string): Buffer {
  return createHash("sha512").update(data).digest();
}

function leftPad(b: Uint8Array, len: number): Buffer {
  const out = Buffer.alloc(len);
  Buffer.from(b).copy(out, len - b.length);
  return out;
}

function coordLen(pk: PublicKey): number {
  return pk.kind === "ecdsa" ? (pk.point.length - 1) / 2 : 32;
}

/** The raw signature bytes (R‖S fixed width, or the RSA signature) from the MPIs signDigest returned. */
export function rawSignature(pk: PublicKey, mpis: Uint8Array[]): Buffer {
  if (pk.kind === "rsa") return leftPad(mpis[0] ?? new Uint8Array(), pk.n.length);
  const n = coordLen(pk);
  return Buffer.concat([leftPad(mpis[0] ?? new Uint8Array(), n), leftPad(mpis[1] ?? new Uint8Array(), n)]);
}

/**
 * node:crypto check of an OpenPGP-style signature over `message` (digest = SHA-512(message)):
 * Ed25519 signs the digest itself; ECDSA/RSA are SHA-512 signatures of the message (ECDSA truncation and
 * the RSA DigestInfo then match what hsmSigningInput produced).
 */
export function nodeVerifies(pk: PublicKey, message: Uint8Array, mpis: Uint8Array[]): boolean {
  const key = keyObjectOf(pk);
  const sig = rawSignature(pk, mpis);
  if (pk.kind === "ed25519") return nodeVerify(null, sha512(message), key, sig);
  if (pk.kind === "ecdsa") return nodeVerify("sha512", message, { key, dsaEncoding: "ieee-p1363" }, sig);
  return nodeVerify("sha512", message, key, sig);
}

/** DER SEQUENCE { INTEGER r, INTEGER s } from fixed-width r‖s. */
export function ecdsaDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const int = (b: Buffer): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if ((v[0] ?? 0) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02]), derLen(v.length), v]);
  };
  const body = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30]), derLen(body.length), body]);
}
function derLen(n: number): Buffer {
  return n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
}

/**
 * `openssl pkeyutl -verify` of a signature over the 64-byte digest: Ed25519 with -rawin over the digest,
 * ECDSA over the digest (openssl truncates like hsmSigningInput), RSA PKCS#1 v1.5 / PSS with digest:sha512.
 */
export async function opensslVerifies(
  pk: PublicKey,
  digest: Uint8Array,
  signature: Buffer,
  mode: "default" | "pss" = "default",
): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), "signstar-openssl-"));
  try {
    const pem = keyObjectOf(pk).export({ type: "spki", format: "pem" });
    await writeFile(join(dir, "pub.pem"), pem);
    await writeFile(join(dir, "in.bin"), digest);
    await writeFile(join(dir, "sig.bin"), pk.kind === "ecdsa" ? ecdsaDer(signature) : signature);
    const args = ["pkeyutl", "-verify", "-pubin", "-inkey", join(dir, "pub.pem"), "-in", join(dir, "in.bin"), "-sigfile", join(dir, "sig.bin")];
    if (pk.kind === "ed25519") args.push("-rawin");
    if (pk.kind === "rsa") args.push("-pkeyopt", "digest:sha512");
    if (mode === "pss") args.push("-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:64", "-pkeyopt", "rsa_mgf1_md:sha512");
    try {
      const { stdout } = await run("openssl", args);
      return /Signature Verified Successfully/.test(stdout);
    } catch {
      return false;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export const SIGN_CHILD = join(REPO, "dist/tests/backends/pkcs11/fixtures/sign-child.js");

/** Runs the compiled sign-child with JSON on stdin (needs `npm run build`). */
export function runSignChild(input: object, env: Record<string, string>, timeoutMs = 60_000): Promise<ChildResult> {
  if (!existsSync(SIGN_CHILD)) throw new Error(`${SIGN_CHILD} is missing: run "npm run build" first`);
  return new Promise((resolvePromise, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [SIGN_CHILD], { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolvePromise({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** Compiles fixtures/fake-module.c with the given -D flag into `dir`; returns the .so path. */
export async function buildFakeModule(dir: string, define: "FAKE_HANG_INIT" | "FAKE_PIN_LOCKED"): Promise<string> {
  const out = join(dir, `${define.toLowerCase()}.so`);
  await run("gcc", [
    "-shared",
    "-fPIC",
    "-O1",
    "-Wall",
    "-I",
    join(REPO, "node_modules/pkcs11js/includes/pkcs11"),
    `-D${define}`,
    "-o",
    out,
    join(REPO, "tests/backends/pkcs11/fixtures/fake-module.c"),
  ]);
  return out;
}
