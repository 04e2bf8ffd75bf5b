/**
 * End to end with real verifiers: for each key type, a hand-built certificate and signatures over files of
 * several sizes made through request → state → signature → response; gpg, sq and sqop must accept every
 * signature and reject it for a file with one changed byte. One GNUPGHOME per key type, agents killed after.
 */
import { execFile } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { armor } from "../../lib/signing/openpgp/armor.js";
import { armorCertificate, createCertificate, parseCertificate, type OpenPgpCertificate } from "../../lib/signing/openpgp/certificate.js";
import { toHex } from "../../lib/signing/openpgp/fingerprint.js";
import { signHasherState } from "../../lib/signing/openpgp/signature.js";
import { parseSignature } from "../support/signature-parse.js";
import { clientOptionalFields, createSigningRequest, parseSigningRequest } from "../../lib/signing/request.js";
import { createSigningResponse, parseSigningResponse } from "../../lib/signing/response.js";
import { softwareSigner } from "../support/software-signer.js";
import type { Signer } from "../../lib/signing/signer.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with at most `LIMIT` running at once (2 shared cores). */
const LIMIT = 4;
let running = 0;
const waiting: (() => void)[] = [];
async function run(cmd: string, args: readonly string[], opts: { stdin?: Uint8Array; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  if (running >= LIMIT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await new Promise<Run>((resolve) => {
      const child = execFile(cmd, [...args], { env: opts.env ?? process.env, timeout: 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      });
      child.stdin?.on("error", () => undefined); // verifiers that exit early close their stdin (EPIPE)
      child.stdin?.end(opts.stdin ?? new Uint8Array(0));
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const KEYS: Record<string, () => KeyObject> = {
  ed25519: () => generateKeyPairSync("ed25519").privateKey,
  p256: () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
  p384: () => generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey,
  p521: () => generateKeyPairSync("ec", { namedCurve: "P-521" }).privateKey,
  rsa2048: () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey,
  rsa4096: () => generateKeyPairSync("rsa", { modulusLength: 4096 }).privateKey,
};
const SIZES = [0, 1, 127, 128, 129, 3 * 1024 * 1024 + 5];
/** Sizes whose tampered copy is checked with all three verifiers for every key type. */
const TAMPER_SIZES = [0, 129, 3 * 1024 * 1024 + 5];
const KEY_CREATED = new Date("2024-01-01T00:00:00Z");

let dir = "";
const files = new Map<number, { path: string; tampered: string }>();
const homes: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "signstar-verifiers-"));
  for (const size of SIZES) {
    const data = randomBytes(size);
    const path = join(dir, `data-${size}.bin`);
    writeFileSync(path, data);
    const changed = size === 0 ? Uint8Array.from([0]) : Uint8Array.from(data);
    if (size > 0) changed[Math.floor(size / 2)] = (changed[Math.floor(size / 2)] ?? 0) ^ 0x01;
    const tampered = join(dir, `tampered-${size}.bin`);
    writeFileSync(tampered, changed);
    files.set(size, { path, tampered });
  }
});

afterAll(async () => {
  for (const home of homes) await run("gpgconf", ["--homedir", home, "--kill", "gpg-agent"]);
  rmSync(dir, { recursive: true, force: true });
});

/** Client and server halves of the flow, through the JSON request and response. */
async function signFile(path: string, signer: Signer, cert: OpenPgpCertificate): Promise<string> {
  const state = await hashFile(path);
  const requestJson = createSigningRequest(state, clientOptionalFields("data.bin", new Date()));
  const request = parseSigningRequest(new TextEncoder().encode(requestJson));
  const packet = await signHasherState(request.state, signer, cert, {
    created: new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000),
    notations: [{ name: "signer@signstar.example", value: "test-operator" }],
  });
  const response = parseSigningResponse(createSigningResponse(armor("SIGNATURE", packet)));
  // what the server asserted: subpacket order of Signstar, the file's digest in the notation, our issuer
  const parsed = parseSignature(response.signature);
  expect(parsed.hashed.map((s) => s.type)).toEqual([2, 16, 33, 20, 20]);
  expect(parsed.unhashed).toEqual([]);
  expect(parsed.notations[0]?.name).toBe("data-digest@archlinux.org");
  expect(Buffer.from(parsed.notations[0]?.value ?? []).toString("hex")).toBe(createHash("sha512").update(readFileSync(path)).digest("hex"));
  expect(parsed.notations[1]).toEqual({ name: "signer@signstar.example", value: new TextEncoder().encode("test-operator"), humanReadable: true });
  expect(toHex(parsed.issuerFingerprint ?? new Uint8Array())).toBe(toHex(cert.fingerprint));
  return response.signature;
}

for (const [name, makeKey] of Object.entries(KEYS)) {
  describe(`${name} with gpg, sq and sqop`, () => {
    let signer: Signer;
    let cert: OpenPgpCertificate;
    let certPath = "";
    let home = "";
    const userIds = [`Signstar test ${name} <${name}@signstar.example>`, `Second identity ${name}`];

    beforeAll(async () => {
      signer = softwareSigner(makeKey());
      const bytes = await createCertificate(signer, { userIds, created: KEY_CREATED });
      cert = parseCertificate(bytes);
      certPath = join(dir, `${name}.cert.asc`);
      writeFileSync(certPath, armorCertificate(bytes));
      home = join(dir, `gnupg-${name}`);
      mkdirSync(home, { mode: 0o700 });
      homes.push(home);
    });

    it("the certificate imports into gpg with our fingerprint and user IDs, and sq inspect shows it", async () => {
      expect(cert.userIds).toEqual(userIds);
      expect(cert.created.getTime()).toBe(KEY_CREATED.getTime());
      const imported = await run("gpg", ["--homedir", home, "--batch", "--status-fd", "1", "--import", certPath]);
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toContain(`IMPORT_OK 1 ${toHex(cert.fingerprint)}`);
      const listed = await run("gpg", ["--homedir", home, "--batch", "--with-colons", "--list-keys", toHex(cert.fingerprint)]);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(`fpr:::::::::${toHex(cert.fingerprint)}:`);
      for (const uid of userIds) expect(listed.stdout).toContain(uid.replace(/:/g, "\\x3a"));
      // capabilities field (12) of the primary key: signing ("s"), gpg adds certify ("c") to every primary key;
      // never encryption or authentication
      const pub = listed.stdout.split("\n").find((l) => l.startsWith("pub:"))?.split(":");
      expect(pub?.[11]).toBe("scSC");
      expect(pub?.[1]).not.toBe("i"); // not invalid: self-signatures verified
      const inspected = await run("sq", ["inspect", certPath], { env: { ...process.env, HOME: dir } });
      expect(inspected.code, inspected.stderr).toBe(0);
      expect(inspected.stdout).toContain(toHex(cert.fingerprint));
      for (const uid of userIds) expect(inspected.stdout).toContain(uid);
    });

    it(`signatures over files of ${SIZES.join(", ")} bytes verify in gpg, sq and sqop; changed files are rejected`, async () => {
      const env = { ...process.env, HOME: dir };
      const checks: Promise<void>[] = [];
      for (const size of SIZES) {
        const file = files.get(size);
        if (file === undefined) throw new Error("missing file");
        const sigPath = join(dir, `${name}-${size}.sig.asc`);
        writeFileSync(sigPath, await signFile(file.path, signer, cert));
        const targets: [string, boolean][] = [[file.path, true]];
        if (TAMPER_SIZES.includes(size)) targets.push([file.tampered, false]);
        for (const [target, good] of targets) {
          const label = `${name} ${size} bytes ${good ? "original" : "tampered"}`;
          checks.push(
            run("gpg", ["--homedir", home, "--batch", "--status-fd", "1", "--verify", sigPath, target]).then((r) => {
              if (good) {
                expect(r.code, `gpg ${label}: ${r.stderr}`).toBe(0);
                expect(r.stdout).toContain(`VALIDSIG ${toHex(cert.fingerprint)}`);
                expect(r.stdout).toContain("NOTATION_NAME data-digest@archlinux.org");
                expect(r.stdout).toContain("NOTATION_NAME signer@signstar.example");
              } else {
                expect(r.code, `gpg ${label}`).not.toBe(0);
                expect(r.stdout).toContain("BADSIG");
              }
            }),
            run("sq", ["verify", "--signer-cert", certPath, "--detached", sigPath, target], { env }).then((r) => {
              expect(r.code === 0, `sq ${label}: ${r.stderr}`).toBe(good);
              if (good) expect(r.stderr).toMatch(/1 good signature/);
            }),
            run("sqop", ["verify", sigPath, certPath], { env, stdin: readFileSync(target) }).then((r) => {
              expect(r.code, `sqop ${label}: ${r.stderr}`).toBe(good ? 0 : 3);
              if (good) expect(r.stdout).toContain(toHex(cert.fingerprint));
            }),
          );
        }
      }
      await Promise.all(checks);
    });
  });
}


describe("certificates made by gpg", () => {
  const algos: [string, string][] = [
    ["ed25519", "ed25519"],
    ["nistp256", "ecdsa P-256"],
    ["nistp521", "ecdsa P-521"],
    ["rsa2048", "rsa"],
  ];
  it("parse with gpg's fingerprint, creation time, user ID and key type", async () => {
    const home = join(dir, "gnupg-generated");
    mkdirSync(home, { mode: 0o700 });
    homes.push(home);
    for (const [algo, kind] of algos) {
      const uid = `Generated ${algo} <${algo}@example.org>`;
      const gen = await run("gpg", ["--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", uid, algo, "sign", "never"]);
      expect(gen.code, gen.stderr).toBe(0);
      const listed = await run("gpg", ["--homedir", home, "--batch", "--with-colons", "--list-keys", uid]);
      const fpr = listed.stdout.split("\n").find((l) => l.startsWith("fpr:"))?.split(":")[9];
      const created = Number(listed.stdout.split("\n").find((l) => l.startsWith("pub:"))?.split(":")[5]);
      const exported = await new Promise<Buffer>((resolve, reject) =>
        execFile("gpg", ["--homedir", home, "--batch", "--export", fpr ?? "none"], { encoding: "buffer" }, (err, stdout) => (err === null ? resolve(stdout) : reject(err))),
      );
      const cert = parseCertificate(new Uint8Array(exported));
      expect(toHex(cert.fingerprint)).toBe(fpr);
      expect(cert.created.getTime()).toBe(created * 1000);
      expect(cert.userIds).toEqual([uid]);
      const pk = cert.publicKey;
      expect(pk.kind === "ecdsa" ? `ecdsa ${pk.curve}` : pk.kind).toBe(kind);
    }
  });
});
