/**
 * The signing log end to end (issue 16): a real sshd, SoftHSM, real signing users, the log writer on the host's
 * socket (startLogWriter, as signstar-log-writer runs it). A signature requested over OpenSSH carries the log
 * notation `<origin> <index>` in its hashed area, gpg, sq and sqop still accept it, and by the time the client has
 * it, its entry (key fingerprint, digest, creation time, user as the kernel named it, SHA-256 of the packet) is in
 * the log: proven included by our verifier and by Go's. With the log writer gone, signing fails closed.
 */
import { createHash, randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashFile } from "../../lib/signing/file-hasher.js";
import { dearmor } from "../../lib/signing/openpgp/armor.js";
import { createSigningRequest } from "../../lib/signing/request.js";
import { parseSigningResponse } from "../../lib/signing/response.js";
import { LOG_NOTATION } from "../../lib/tlog/client.js";
import { decodeEntry } from "../../lib/tlog/entry.js";
import { ed25519NoteSigner, parseVerifierKey } from "../../lib/tlog/note.js";
import { checkSignatureInLog } from "../../lib/client/log-check.js";
import { signCheckpoint } from "../../lib/tlog/checkpoint.js";
import { LogVerifyError } from "../../lib/tlog/errors.js";
import { loadLogKeyFile } from "../../lib/tlog/key-file.js";
import { directoryFetch, fetchCheckpoint, verifyEntryInclusion } from "../../lib/tlog/reader.js";
import { buildGoVerifier, goVerify } from "../support/go-tlog-verifier.js";
import { exitCodeOf } from "../support/run.js";
import { parseSignature } from "../support/signature-parse.js";
import { startSigningHost, type SigningHost } from "../support/signing-host.js";
import { runSsh } from "../support/sshd.js";

const exec = promisify(execFile);
let host: SigningHost;
let work: string;
let go: string;

beforeAll(async () => {
  host = await startSigningHost({ signers: ["ed25519", "p256"], signingLog: true });
  work = await mkdtemp(join(tmpdir(), "signstar-log-e2e-"));
  go = await buildGoVerifier();
}, 300_000);

afterAll(async () => {
  await host?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function verifiers(certFile: string, sigFile: string, dataFile: string): Promise<{ gpg: number; sq: number; sqop: number }> {
  const gnupg = await mkdtemp(join(tmpdir(), "signstar-gpg-"));
  try {
    const env = { ...process.env, GNUPGHOME: gnupg };
    await exec("gpg", ["--batch", "--quiet", "--import", certFile], { env });
    const gpg = await exitCodeOf("gpg", ["--batch", "--quiet", "--verify", sigFile, dataFile], env);
    const sq = await exitCodeOf("sq", ["verify", "--signer-cert", certFile, "--detached", sigFile, dataFile]);
    const sqop = await exitCodeOf("sh", ["-c", `sqop verify "$1" "$2" < "$3"`, "sh", sigFile, certFile, dataFile]);
    return { gpg, sq, sqop };
  } finally {
    await exitCodeOf("gpgconf", ["--homedir", gnupg, "--kill", "gpg-agent"]);
    await rm(gnupg, { recursive: true, force: true });
  }
}

describe("signing with the signing log", () => {
  for (const kind of ["ed25519", "p256"] as const) {
    it(`${kind}: the signature names its log entry, verifies with gpg, sq and sqop, and is in the log when returned`, async () => {
      const s = host.signers.find((x) => x.kind === kind)!;
      const log = host.signingLog!;
      const file = join(work, `${kind}.bin`);
      await writeFile(file, randomBytes(100_000));
      const state = await hashFile(file);
      const result = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: createSigningRequest(state, { "file-name": "payload" }) });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const armored = parseSigningResponse(result.stdout).signature;
      const sigFile = `${file}.asc`;
      await writeFile(sigFile, `${armored}\n`);
      expect(await verifiers(s.certificateFile, sigFile, file)).toEqual({ gpg: 0, sq: 0, sqop: 0 });

      // The notation in the hashed area: `<origin> <index>`.
      const packet = dearmor(armored).data;
      const sig = parseSignature(packet);
      const notation = sig.notations.find((n) => n.name === LOG_NOTATION);
      expect(notation?.humanReadable).toBe(true);
      const [origin, indexText] = Buffer.from(notation!.value).toString().split(" ");
      expect(origin).toBe(log.origin);
      const index = Number(indexText);

      // The entry is already durable: no waiting, straight from the directory.
      const fetch = directoryFetch(log.dir);
      const { checkpoint } = await fetchCheckpoint(fetch, parseVerifierKey(log.verifierKey));
      const entry = decodeEntry(await verifyEntryInclusion(fetch, checkpoint, index));
      expect(entry).toEqual({
        kind: "signature",
        key: s.fingerprint.toLowerCase(),
        digest: Buffer.from(state.digest()).toString("hex"),
        created: Math.floor(sig.created!.getTime() / 1000),
        user: s.user,
        packet: createHash("sha256").update(packet).digest("hex"),
      });
      const goResult = await goVerify(go, log.dir, log.verifierKey, "inclusion", String(index));
      expect(goResult.stderr).toBe("");
      expect(goResult.stdout).toMatch(/^ok entry/);
    });
  }

  it("the client's check: notation, inclusion, the packet and digest, consistency with the last checkpoint it saw; a fork is caught", async () => {
    const s = host.signers.find((x) => x.kind === "ed25519")!;
    const log = host.signingLog!;
    const known = join(work, "known-checkpoints");
    const signOnce = async (name: string): Promise<{ packet: Uint8Array; digest: Uint8Array }> => {
      const file = join(work, name);
      await writeFile(file, randomBytes(5000));
      const state = await hashFile(file);
      const result = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: createSigningRequest(state, { "file-name": "payload" }) });
      expect(result.code).toBe(0);
      return { packet: dearmor(parseSigningResponse(result.stdout).signature).data, digest: state.digest() };
    };
    const fetch = directoryFetch(log.dir);
    const first = await signOnce("check-1.bin");
    const r1 = await checkSignatureInLog({ fetch, verifierKey: log.verifierKey, signature: first.packet, digest: first.digest, knownCheckpointsDir: known });
    expect(r1.consistentWith).toBeUndefined();
    expect(r1.entry.user).toBe(s.user);
    const second = await signOnce("check-2.bin");
    const r2 = await checkSignatureInLog({ fetch, verifierKey: log.verifierKey, signature: second.packet, digest: second.digest, knownCheckpointsDir: known });
    expect(r2.consistentWith).toBe(r1.checkpoint.size);
    expect(r2.index).toBeGreaterThan(r1.index);
    await expect(checkSignatureInLog({ fetch, verifierKey: log.verifierKey, signature: second.packet, digest: first.digest })).rejects.toThrow(/another file digest/);

    // A fork: a checkpoint of the same size signed by the log key over another root, remembered as "last seen".
    const logKey = await loadLogKeyFile(join(host.dir, "log.key"));
    const forked = await signCheckpoint({ ...r2.checkpoint, root: new Uint8Array(32).fill(7) }, logKey);
    const [knownFile] = await readdir(known);
    await writeFile(join(known, knownFile!), forked);
    await expect(checkSignatureInLog({ fetch, verifierKey: log.verifierKey, signature: second.packet, knownCheckpointsDir: known })).rejects.toThrow(/fork/);
    // A wrong key: another log's verifier key.
    const other = ed25519NoteSigner(log.origin, new Uint8Array(32).fill(1));
    await expect(checkSignatureInLog({ fetch, verifierKey: other.verifierKey, signature: second.packet })).rejects.toThrow(LogVerifyError);
  });

  it("fails closed when the log writer is not there: no signature, one line on stderr", async () => {
    const s = host.signers.find((x) => x.kind === "ed25519")!;
    await host.signingLog!.running.close();
    const file = join(work, "closed.bin");
    await writeFile(file, randomBytes(1000));
    const result = await runSsh({ sshd: host.sshd, user: s.user, identity: s.sshKey.privateKeyFile, input: createSigningRequest(await hashFile(file), { "file-name": "payload" }) });
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/log writer/);
  });
});
