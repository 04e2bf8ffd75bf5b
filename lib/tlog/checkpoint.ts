/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text `<origin>\n<tree size>\n<base64 root
 * hash>\n` (extension lines may follow; we write none and keep what we read), signed as a signed-note by the log key.
 */
import { LogVerifyError } from "./errors.js";
import { HASH_SIZE } from "./merkle.js";
import { openNote, signNote, type NoteSigner, type NoteVerifier } from "./note.js";

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  readonly extensions: readonly string[];
}

export function formatCheckpoint(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${Buffer.from(c.root).toString("base64")}\n${c.extensions.map((e) => `${e}\n`).join("")}`;
}

/** Parses checkpoint text strictly: decimal size without leading zeros, a 32-byte canonical base64 hash. */
export function parseCheckpoint(text: string): Checkpoint {
  const lines = text.split("\n");
  if (lines.pop() !== "" || lines.length < 3) throw new LogVerifyError("checkpoint: fewer than three lines");
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw new LogVerifyError("checkpoint: empty origin");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) throw new LogVerifyError("checkpoint: bad tree size");
  const root = Buffer.from(rootText, "base64");
  if (root.length !== HASH_SIZE || root.toString("base64") !== rootText) throw new LogVerifyError("checkpoint: bad root hash");
  if (extensions.some((e) => e.length === 0)) throw new LogVerifyError("checkpoint: empty extension line");
  return { origin, size: Number(sizeText), root: new Uint8Array(root), extensions };
}

export function signCheckpoint(c: Checkpoint, signer: NoteSigner): Promise<Uint8Array> {
  return signNote(formatCheckpoint(c), signer);
}

/** Verifies the note signature and that the checkpoint is for `origin` (the verifier key's name by default). */
export function openCheckpoint(note: Uint8Array, verifier: NoteVerifier, origin: string = verifier.name): Checkpoint {
  const c = parseCheckpoint(openNote(note, verifier));
  if (c.origin !== origin) throw new LogVerifyError(`checkpoint is for origin ${JSON.stringify(c.origin)}, not ${JSON.stringify(origin)}`);
  return c;
}
