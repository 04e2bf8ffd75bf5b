/**
 * Checks, offline, that a signature the enclave issued is in its signing log (docs/tlog.md): the signature's
 * hashed notation `signstar-log@archlinux.org` = `<origin> <index>` names the entry; the log's checkpoint must be
 * signed by the verifier key of that origin, be consistent with the last checkpoint this client saw of that log
 * (kept per origin in a directory, like known_hosts: a fork or a rewritten history is caught), and prove the
 * entry's inclusion; the entry must hold exactly this signature packet's SHA-256 (and the file's digest, when
 * given). The log's files come through any LogFetch: SSH to a log_reader, a copied directory.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "../os/atomic-file.js";
import { ensureDir } from "../os/fs.js";
import { FileReadError, readCheckedFile } from "../os/read-file.js";
import { readPackets, Reader, Tag } from "../signing/openpgp/packet.js";
import { SubpacketType } from "../signing/openpgp/signature.js";
import { openCheckpoint, type Checkpoint } from "../tlog/checkpoint.js";
import { LOG_NOTATION } from "../tlog/client.js";
import { decodeEntry, type SignatureEntry } from "../tlog/entry.js";
import { LogVerifyError } from "../tlog/errors.js";
import { parseVerifierKey } from "../tlog/note.js";
import { fetchCheckpoint, verifyConsistency, verifyEntryInclusion } from "../tlog/reader.js";
import type { LogFetch } from "../tlog/tiles.js";

export interface LogCheckInput {
  readonly fetch: LogFetch;
  /** The log's verifier key line `<origin>+<key id>+<key>`. */
  readonly verifierKey: string;
  /** The signature: one binary OpenPGP signature packet. */
  readonly signature: Uint8Array;
  /** The SHA-512 digest of the signed file, when the caller has it. */
  readonly digest?: Uint8Array;
  /** Where the last seen checkpoint of each log is kept (created 0700 if missing); none: no consistency check. */
  readonly knownCheckpointsDir?: string;
}

export interface LogCheckResult {
  readonly origin: string;
  readonly index: number;
  readonly entry: SignatureEntry;
  readonly checkpoint: Checkpoint;
  /** The size of the earlier checkpoint the log was shown consistent with (undefined: first contact). */
  readonly consistentWith: number | undefined;
}

/** The `<origin> <index>` of the log notation in the signature's hashed area. */
export function logNotationOf(signature: Uint8Array): { origin: string; index: number } {
  const packets = readPackets(signature, 1);
  const body = packets[0]?.tag === Tag.Signature ? packets[0].body : undefined;
  if (body === undefined || body[0] !== 4) throw new LogVerifyError("not a v4 OpenPGP signature packet");
  const hashed = new Reader(body.subarray(6, 6 + (((body[4] ?? 0) << 8) | (body[5] ?? 0))), "hashed subpackets");
  const found: string[] = [];
  while (hashed.remaining > 0) {
    const first = hashed.byte();
    const len = first < 192 ? first : first < 255 ? ((first - 192) << 8) + hashed.byte() + 192 : hashed.u32();
    const sub = new Reader(hashed.take(len), "subpacket");
    if ((sub.byte() & 0x7f) !== SubpacketType.NotationData) continue;
    sub.take(4);
    const nameLen = sub.u16();
    const valueLen = sub.u16();
    const name = Buffer.from(sub.take(nameLen)).toString("utf8");
    const value = Buffer.from(sub.take(valueLen)).toString("utf8");
    if (name === LOG_NOTATION) found.push(value);
  }
  if (found.length !== 1) throw new LogVerifyError(`the signature has ${found.length === 0 ? "no" : "more than one"} ${LOG_NOTATION} notation`);
  const m = /^(\S{1,255}) (0|[1-9][0-9]{0,15})$/.exec(found[0]!);
  if (!m) throw new LogVerifyError(`the ${LOG_NOTATION} notation is not "<origin> <index>"`);
  return { origin: m[1]!, index: Number(m[2]) };
}

/** A file name for an origin in the known-checkpoints directory. */
function knownFile(dir: string, origin: string): string {
  return join(dir, `${createHash("sha256").update(origin).digest("hex").slice(0, 32)}.checkpoint`);
}

export async function checkSignatureInLog(input: LogCheckInput): Promise<LogCheckResult> {
  const verifier = parseVerifierKey(input.verifierKey);
  const { origin, index } = logNotationOf(input.signature);
  if (origin !== verifier.name) throw new LogVerifyError(`the signature is logged in ${JSON.stringify(origin)}, not in ${JSON.stringify(verifier.name)}`);
  const { checkpoint, note } = await fetchCheckpoint(input.fetch, verifier);

  let consistentWith: number | undefined;
  const known = input.knownCheckpointsDir === undefined ? undefined : knownFile(input.knownCheckpointsDir, origin);
  if (known !== undefined) {
    let previous: Uint8Array | undefined;
    try {
      previous = (await readCheckedFile(known, { what: "known checkpoint", maxBytes: 16 * 1024, owner: process.getuid?.() ?? 0, clearBits: 0o022 })).data;
    } catch (error) {
      if (!(error instanceof FileReadError && error.problem.kind === "open" && error.problem.code === "ENOENT")) throw error;
    }
    if (previous !== undefined) {
      const older = openCheckpoint(previous, verifier);
      await verifyConsistency(input.fetch, older, checkpoint);
      consistentWith = older.size;
    }
  }

  const decoded = decodeEntry(await verifyEntryInclusion(input.fetch, checkpoint, index));
  if (decoded.kind !== "signature") throw new LogVerifyError(`log entry ${index} is void: the signature was never logged as issued`);
  const packetHash = createHash("sha256").update(input.signature).digest("hex");
  if (decoded.packet !== packetHash) throw new LogVerifyError(`log entry ${index} is for another signature packet`);
  if (input.digest !== undefined && decoded.digest !== Buffer.from(input.digest).toString("hex")) {
    throw new LogVerifyError(`log entry ${index} is for another file digest`);
  }
  if (known !== undefined && input.knownCheckpointsDir !== undefined) {
    await ensureDir(input.knownCheckpointsDir, 0o700, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    await writeFileAtomic(known, note, { mode: 0o644 });
  }
  return { origin, index, entry: decoded, checkpoint, consistentWith };
}
