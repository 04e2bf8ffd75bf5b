import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as openpgp from "openpgp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode, SignstarError } from "../../lib/errors.js";
import {
  ClientInputError,
  ClientUsageError,
  ConnectionError,
  HostKeyError,
  InvalidResponseError,
  RemoteError,
} from "../../lib/client/errors.js";
import { DEFAULT_PARALLEL, MAX_PARALLEL, parallelOf, prepareRequest, sendSigningRequest, type SendOptions } from "../../lib/client/request-signature.js";
import { checkSignatureForState } from "../../lib/client/signature-check.js";
import { parseSigningRequest } from "../../lib/signing/request.js";
import { createSigningResponse } from "../../lib/signing/response.js";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { startFakeHost, type FakeHost, type Handler } from "./support/fake-host.js";
import { makeKey, type TestKey } from "./support/keys.js";

const dir = mkdtempSync(join(tmpdir(), "signstar-client-send-"));
const gnupgHome = join(dir, "gnupg");
let hostKey: TestKey;
let clientKey: TestKey;
let host: FakeHost;
let pgpKey: openpgp.PrivateKey;
let knownHostsPath: string;
let behaviour: Handler;
let counter = 0;

/** Signs `content` the way a signing host would (binary document, SHA-512) and wraps it in a response. */
async function signedResponse(content: Uint8Array): Promise<string> {
  const armored = await openpgp.sign({
    message: await openpgp.createMessage({ binary: content }),
    signingKeys: pgpKey,
    detached: true,
    format: "armored",
    config: { preferredHashAlgorithm: openpgp.enums.hash.sha512 },
  });
  return createSigningResponse(armored);
}

/** A fresh work directory with a file to sign. */
function workFile(content: Uint8Array | string = randomBytes(100_000)): { work: string; file: string; content: Buffer } {
  const work = join(dir, `w${++counter}`);
  mkdirSync(work);
  const file = join(work, "package.tar.zst");
  const buf = Buffer.from(content);
  writeFileSync(file, buf);
  return { work, file, content: buf };
}

function opts(file: string, over: Partial<SendOptions> = {}): SendOptions {
  return {
    host: "127.0.0.1",
    port: host.port,
    user: "signer",
    identity: clientKey.path,
    knownHostsPath,
    file,
    readyTimeoutMs: 5000,
    timeoutMs: 10_000,
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<SignstarError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SignstarError) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}

function gpg(...args: string[]): string {
  return execFileSync("gpg", ["--homedir", gnupgHome, "--batch", "--no-tty", ...args], { stdio: ["ignore", "pipe", "pipe"] }).toString();
}

beforeAll(async () => {
  hostKey = makeKey(dir, "host");
  clientKey = makeKey(dir, "client");
  const generated = await openpgp.generateKey({
    type: "ecc",
    curve: "ed25519Legacy",
    userIDs: [{ name: "Test Signing Host", email: "signer@example.org" }],
    format: "object",
  });
  pgpKey = generated.privateKey;
  mkdirSync(gnupgHome, { mode: 0o700 });
  const pubFile = join(dir, "cert.asc");
  writeFileSync(pubFile, generated.publicKey.armor());
  gpg("--import", pubFile);
  host = await startFakeHost({
    hostKey: hostKey.privateKey,
    users: { signer: clientKey.publicLine },
    handler: (input, user) => behaviour(input, user),
  });
  knownHostsPath = join(dir, "known_hosts");
  writeFileSync(knownHostsPath, `# test\n[127.0.0.1]:${host.port} ${hostKey.publicLine}\n`);
});

afterAll(async () => {
  await host.close();
  try {
    execFileSync("gpgconf", ["--homedir", gnupgHome, "--kill", "gpg-agent"], { stdio: "ignore" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Expects the work dir to hold only the file to sign (no output, no temporary files). */
function expectNothingWritten(work: string): void {
  expect(readdirSync(work)).toEqual(["package.tar.zst"]);
}

describe("--parallel (send's batch and verify-log)", () => {
  it("defaults to DEFAULT_PARALLEL and refuses a value outside 1..MAX_PARALLEL with one usage line", () => {
    expect(parallelOf({})).toBe(DEFAULT_PARALLEL);
    expect(parallelOf({ parallel: MAX_PARALLEL })).toBe(MAX_PARALLEL);
    for (const bad of [0, MAX_PARALLEL + 1, 1.5]) {
      let error: unknown;
      try {
        parallelOf({ parallel: bad });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SignstarError);
      expect((error as SignstarError).exitCode).toBe(ExitCode.Usage);
      expect((error as SignstarError).message).toBe(`--parallel ${bad} is not within 1..${MAX_PARALLEL}`);
    }
  });
});

describe("prepare", () => {
  it("prints a request the signing core parses back to the file's SHA-512", async () => {
    const { file, content } = workFile("this is sample text");
    const json = await prepareRequest(file, { now: new Date(1_728_913_277_000) });
    const req = parseSigningRequest(json);
    expect(Buffer.from(req.state.clone().digest()).toString("hex")).toBe(createHash("sha512").update(content).digest("hex"));
    expect(req.optional).toEqual({ "request-time": 1_728_913_277, "file-name": "package.tar.zst" });
    expect(Buffer.byteLength(json)).toBeLessThan(1024);
  });

  it("refuses a directory and a missing file", async () => {
    await expect(prepareRequest(dir)).rejects.toMatchObject({ exitCode: ExitCode.BadInput });
    await expect(prepareRequest(join(dir, "absent"))).rejects.toMatchObject({ exitCode: ExitCode.BadInput });
  });
});

describe("send", () => {
  it("writes FILE.sig (binary) that gpg and sqop verify; the host saw only the request", async () => {
    const { work, file, content } = workFile();
    behaviour = async () => ({ stdout: await signedResponse(content), exit: 0 });
    const progress: number[] = [];
    const res = await sendSigningRequest(opts(file, { onProgress: (done) => progress.push(done) }));
    expect(res.output).toBe(`${file}.sig`);
    expect(res.armored).toBe(false);
    expect(res.signature.hashAlgorithm).toBe(10);
    expect(progress.at(-1)).toBe(content.length);
    const sig = readFileSync(`${file}.sig`);
    expect(sig[0]).toBe(0xc2); // binary packet, not armor
    expect(gpg("--status-fd", "1", "--verify", `${file}.sig`, file)).toContain("[GNUPG:] GOODSIG");
    const cert = join(dir, "cert.asc");
    execFileSync("sqop", ["verify", `${file}.sig`, cert], { input: content });
    expect(readdirSync(work).sort()).toEqual(["package.tar.zst", "package.tar.zst.sig"]);
    // The host got a request, not the file.
    const req = parseSigningRequest(host.inputs.at(-1) ?? Buffer.alloc(0));
    expect(Buffer.from(req.state.clone().digest()).equals(createHash("sha512").update(content).digest())).toBe(true);
    expect(host.commands.at(-1)).toBe("");
  });

  it("--armor writes FILE.asc with the text as received", async () => {
    const { file, content } = workFile();
    const response = await signedResponse(content);
    behaviour = () => ({ stdout: response, exit: 0 });
    const res = await sendSigningRequest(opts(file, { armor: true }));
    expect(res.output).toBe(`${file}.asc`);
    const text = readFileSync(`${file}.asc`, "utf8");
    const sent = (JSON.parse(response) as { signature: string }).signature;
    expect(text).toBe(sent.endsWith("\n") ? sent : `${sent}\n`);
    expect(gpg("--status-fd", "1", "--verify", `${file}.asc`, file)).toContain("[GNUPG:] GOODSIG");
  });

  it("refuses to overwrite an existing output unless forced, before contacting the host", async () => {
    const { file, content } = workFile();
    behaviour = async () => ({ stdout: await signedResponse(content), exit: 0 });
    const out = join(dir, `existing-${counter}.sig`);
    writeFileSync(out, "old");
    const before = host.inputs.length;
    const err = await rejection(sendSigningRequest(opts(file, { output: out })));
    expect(err).toBeInstanceOf(ClientInputError);
    expect(err.exitCode).toBe(ExitCode.BadInput);
    expect(err.message).toMatch(/already exists \(use --force/);
    expect(host.inputs.length).toBe(before);
    expect(readFileSync(out, "utf8")).toBe("old");
    await sendSigningRequest(opts(file, { output: out, force: true }));
    expect(gpg("--status-fd", "1", "--verify", out, file)).toContain("GOODSIG");
  });

  it("refuses output = input and an output directory", async () => {
    const { file } = workFile();
    await expect(sendSigningRequest(opts(file, { output: file, force: true }))).rejects.toThrow(/is the file to sign/);
    await expect(sendSigningRequest(opts(file, { output: dir, force: true }))).rejects.toThrow(/is a directory/);
    await expect(sendSigningRequest(opts(file, { output: join(dir, "no", "x.sig") }))).rejects.toThrow(/does not exist/);
  });

  it("a valid signature over another file is refused, nothing is written", async () => {
    const { work, file } = workFile();
    behaviour = async () => ({ stdout: await signedResponse(Buffer.from("something else")), exit: 0 });
    const err = await rejection(sendSigningRequest(opts(file)));
    expect(err).toBeInstanceOf(InvalidResponseError);
    expect(err.exitCode).toBe(ExitCode.Remote);
    expect(err.message).toMatch(/does not cover the requested file/);
    expectNothingWritten(work);
  });

  const failures: [string, Handler, RegExp, number][] = [
    [
      "another role's answer (issue 12.8)",
      () => ({ stdout: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\x1b[2Jfoo\u2028bar", exit: 0 }),
      /^the host did not answer with a signing response \(is the user's ForceCommand signstar-download-signature\?\); it sent 50 bytes beginning "-----BEGIN PGP PUBLIC KEY BLOCK-----\\n\\u001b\[2Jfoo bar"$/,
      ExitCode.Remote,
    ],
    ["nothing on stdout", () => ({ stdout: "", exit: 0 }), /did not answer with a signing response .*; it sent nothing on stdout$/, ExitCode.Remote],
    ["a malformed signing response", () => ({ stdout: '{"version":"1.0.0"}', exit: 0 }), /^response: missing field signature/, ExitCode.Remote],
    ["an armored non-signature", () => ({ stdout: createSigningResponse("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"), exit: 0 }), /not a SIGNATURE/, ExitCode.Remote],
    ["a remote failure", () => ({ stderr: "error: user signer has no signing mapping\n", exit: 5 }), /exit code 5: error: user signer has no signing mapping$/, ExitCode.Remote],
    ["no exit status", () => ({ stdout: "{}", exit: "none" }), /did not exit cleanly/, ExitCode.Remote],
  ];
  for (const [name, handler, message, code] of failures) {
    it(`${name}: clear error, nothing written`, async () => {
      const { work, file } = workFile();
      behaviour = handler;
      const err = await rejection(sendSigningRequest(opts(file)));
      expect(err.message).toMatch(message);
      expect(err.exitCode).toBe(code);
      expectNothingWritten(work);
    });
  }

  it("remote error keeps the remote exit code", async () => {
    const { file } = workFile();
    behaviour = () => ({ stderr: "bad request\n", exit: 3 });
    const err = await rejection(sendSigningRequest(opts(file)));
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).remoteExitCode).toBe(3);
    expect((err as RemoteError).remoteMessage).toBe("bad request");
  });

  it("a host that never answers is cut off, nothing written", async () => {
    const { work, file } = workFile();
    behaviour = () => ({ exit: "hang" });
    const err = await rejection(sendSigningRequest(opts(file, { timeoutMs: 1000 })));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.message).toMatch(/no complete answer within 1 s/);
    expectNothingWritten(work);
  });

  it("an oversized answer is refused, nothing written", async () => {
    const { work, file } = workFile();
    behaviour = () => ({ stdout: Buffer.alloc(300_000, 0x20), exit: 0 });
    const err = await rejection(sendSigningRequest(opts(file)));
    expect(err.message).toMatch(/larger than 65536 bytes/);
    expectNothingWritten(work);
  });

  it("a host missing from known_hosts is refused before hashing or connecting", async () => {
    const { work, file } = workFile();
    const kh = join(dir, "kh-other");
    writeFileSync(kh, `otherhost ${hostKey.publicLine}\n`);
    const before = host.inputs.length;
    let hashed = false;
    const err = await rejection(sendSigningRequest(opts(file, { knownHostsPath: kh, onProgress: () => (hashed = true) })));
    expect(err).toBeInstanceOf(HostKeyError);
    expect(err.message).toBe(`host [127.0.0.1]:${host.port} has no entry in ${kh}`);
    expect(err.exitCode).toBe(ExitCode.Denied);
    expect(hashed).toBe(false);
    expect(host.inputs.length).toBe(before);
    expectNothingWritten(work);
  });

  it("a revoked host key is refused at connect, nothing written", async () => {
    const { work, file } = workFile();
    const kh = join(dir, "kh-revoked");
    writeFileSync(kh, `[127.0.0.1]:${host.port} ${hostKey.publicLine}\n@revoked * ${hostKey.publicLine}\n`);
    const err = await rejection(sendSigningRequest(opts(file, { knownHostsPath: kh })));
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).verdict).toBe("revoked");
    expectNothingWritten(work);
  });

  it("usage errors", async () => {
    const { file } = workFile();
    const cases: Partial<SendOptions>[] = [
      { agent: true }, // both identity and agent
      { identity: undefined }, // neither
      { port: 0 },
      { port: 70000 },
      { host: "-oProxyCommand=x" },
      { host: "" },
      { user: "a b" },
      { timeoutMs: -1 },
    ];
    for (const c of cases) {
      const err = await rejection(sendSigningRequest(opts(file, c)));
      expect(err).toBeInstanceOf(ClientUsageError);
      expect(err.exitCode).toBe(ExitCode.Usage);
    }
  });

  it("missing file to sign: exit 3, host not contacted", async () => {
    const before = host.inputs.length;
    const err = await rejection(sendSigningRequest(opts(join(dir, "absent.bin"))));
    expect(err.exitCode).toBe(ExitCode.BadInput);
    expect(host.inputs.length).toBe(before);
    expect(existsSync(join(dir, "absent.bin.sig"))).toBe(false);
  });
});

describe("signature check", () => {
  it("accepts openpgp.js signatures of the file and rejects tampering", async () => {
    const content = Buffer.from("this is sample text");
    const { file } = workFile(content);
    const state = await hashFile(file);
    const sig = await openpgp.sign({
      message: await openpgp.createMessage({ binary: content }),
      signingKeys: pgpKey,
      detached: true,
      format: "binary",
      config: { preferredHashAlgorithm: openpgp.enums.hash.sha512 },
    });
    const bytes = new Uint8Array(sig as Uint8Array);
    expect(checkSignatureForState(bytes, state).sigType).toBe(0);
    // The state is unchanged: a second check gives the same answer.
    expect(checkSignatureForState(bytes, state).hashAlgorithm).toBe(10);
    expect(() => checkSignatureForState(bytes.subarray(0, bytes.length - 1), state)).toThrow(/exactly one packet|truncated/);
    expect(() => checkSignatureForState(Buffer.concat([bytes, bytes]), state)).toThrow(/exactly one packet/);
    const other = await hashFile(workFile("other").file);
    expect(() => checkSignatureForState(bytes, other)).toThrow(/hash prefix mismatch/);
    const wrongType = Buffer.from(bytes);
    wrongType[3] = 0x01; // canonical text
    expect(() => checkSignatureForState(wrongType, state)).toThrow(/expected 0x00/);
  });
});
