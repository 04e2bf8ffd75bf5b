/**
 * Checking one uploaded share against the host's record, in the order a shareholder can act on:
 * format → checksum → iteration → share set → threshold/shares → index → commitment.
 * Only `verifyShare` makes `VerifiedShare` values; their data is kept in a private field so that logging or
 * inspecting one shows no share data.
 */
import { ShareError } from "./errors.js";
import { formatShareLine, parseShareLine, type ShareLine } from "./format.js";
import { shareCommitment, type ShareSetRecord } from "./record.js";

const token: unique symbol = Symbol("VerifiedShare");

export class VerifiedShare {
  readonly setId: string;
  readonly iteration: number;
  readonly threshold: number;
  readonly shares: number;
  readonly index: number;
  readonly #data: string;

  /** @internal Use verifyShare. */
  constructor(key: typeof token, line: ShareLine) {
    if (key !== token) throw new TypeError("VerifiedShare values come from verifyShare only");
    this.setId = line.setId;
    this.iteration = line.iteration;
    this.threshold = line.threshold;
    this.shares = line.shares;
    this.index = line.index;
    this.#data = line.data;
  }

  /** The share's data (lowercase hex). Secret: never log it. */
  data(): string {
    return this.#data;
  }

  /** The canonical one-line text of this share (secret). */
  line(): string {
    return formatShareLine({ ...this.summary(), data: this.#data });
  }

  summary(): { setId: string; iteration: number; threshold: number; shares: number; index: number } {
    return { setId: this.setId, iteration: this.iteration, threshold: this.threshold, shares: this.shares, index: this.index };
  }

  toJSON(): string {
    return `[share ${this.index} of set ${this.setId}]`;
  }

  toString(): string {
    return this.toJSON();
  }
}

/**
 * Parses `text` and checks it against `record`. Throws ShareError (exit code BadInput) naming the first check
 * that failed: format, checksum, iteration, set, parameters, index, commitment.
 */
export function verifyShare(text: string, record: ShareSetRecord): VerifiedShare {
  const s = parseShareLine(text);
  if (s.iteration !== record.iteration) {
    throw new ShareError(
      "iteration",
      `the share belongs to config iteration ${s.iteration}, but the current share set is for iteration ${record.iteration}`,
    );
  }
  if (s.setId !== record.setId) {
    throw new ShareError("set", `the share belongs to another share set (${s.setId}); the current share set is ${record.setId}`);
  }
  if (s.threshold !== record.threshold || s.shares !== record.shares) {
    throw new ShareError(
      "parameters",
      `the share says ${s.threshold}-of-${s.shares}, but share set ${record.setId} is ${record.threshold}-of-${record.shares}`,
    );
  }
  const expected = record.commitments[s.index - 1];
  if (expected === undefined) {
    throw new ShareError("index", `unknown share index ${s.index}: share set ${record.setId} has shares 1 to ${record.shares}`);
  }
  if (s.data.length !== record.dataLength || shareCommitment(s.setId, s.index, s.data) !== expected) {
    throw new ShareError(
      "commitment",
      `share ${s.index} does not match the host's commitment for share ${s.index} of set ${record.setId}: it was altered or corrupted`,
    );
  }
  return new VerifiedShare(token, s);
}
