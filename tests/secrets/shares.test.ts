import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import secrets from "secrets.js-grempe";
import { ExitCode } from "../../lib/errors.js";
import { ShareError, type ShareProblem } from "../../lib/secrets/shares/errors.js";
import { formatShareLine, parseShareLine, shareChecksum, type ShareLine } from "../../lib/secrets/shares/format.js";
import { decodeShareSetRecord, encodeShareSetRecord, shareCommitment, type ShareSetRecord } from "../../lib/secrets/shares/record.js";
import { combineShares, splitSecret } from "../../lib/secrets/shares/shamir.js";
import { verifyShare, type VerifiedShare } from "../../lib/secrets/shares/verify.js";

const SECRET = new TextEncoder().encode('iteration = 1\nbackup_passphrase = "backup-passphrase"\n');

function shareError(f: () => unknown): ShareError {
  try {
    f();
  } catch (error) {
    if (error instanceof ShareError) return error;
    throw error;
  }
  throw new Error("expected a ShareError");
}

function expectRejected(f: () => unknown, problem: ShareProblem, message: string | RegExp, secretData: readonly string[] = []): void {
  const e = shareError(f);
  expect(e.problem).toBe(problem);
  if (typeof message === "string") expect(e.message).toBe(message);
  else expect(e.message).toMatch(message);
  expect(e.exitCode).toBe(ExitCode.BadInput);
  expect(e.message).not.toContain("\n");
  for (const d of secretData) expect(e.message).not.toContain(d.slice(0, 12));
}

function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let mask = 1; mask < 1 << items.length; mask++) out.push(items.filter((_, i) => (mask & (1 << i)) !== 0));
  return out;
}

/** A share line with one field changed and the checksum recomputed (an attacker, not a typo). */
function forge(line: string, change: (s: ShareLine) => ShareLine): string {
  return formatShareLine(change(parseShareLine(line)));
}

/** Changes one hex digit of the data without touching the checksum (a typo). */
function typo(line: string): string {
  const fields = line.split(":");
  const data = fields[5]!;
  fields[5] = (data[0] === "0" ? "1" : "0") + data.slice(1);
  return fields.join(":");
}

describe("share format", () => {
  const { shares, record } = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 5 });

  it("is one ASCII line with version, set id, iteration, t-of-n, index, data and checksum", () => {
    const line = shares[1]!;
    expect(line).toMatch(/^signstar-share-v1:[0-9a-f]{16}:5:2-of-3:2:[0-9a-f]{66}:[0-9a-f]{8}$/);
    const parsed = parseShareLine(line);
    expect(parsed).toEqual({ setId: record.setId, iteration: 5, threshold: 2, shares: 3, index: 2, data: line.split(":")[5] });
    expect(formatShareLine(parsed)).toBe(line);
    expect(line.split(":")[6]).toBe(shareChecksum(line.slice(0, line.lastIndexOf(":"))));
    expect(line.length).toBeLessThan(140);
  });

  it("tolerates surrounding whitespace, spaces inside and upper case", () => {
    const line = shares[0]!;
    const sloppy = `  ${line.toUpperCase().replace(":", ": ")}\r\n`;
    expect(parseShareLine(sloppy)).toEqual(parseShareLine(line));
    expect(verifyShare(sloppy, record).index).toBe(1);
  });

  it("names a typo precisely: checksum mismatch", () => {
    expectRejected(() => verifyShare(typo(shares[0]!), record), "checksum", "checksum mismatch: the share was mistyped", shares);
    const swapped = shares[0]!.replace(/:(\d+):([0-9a-f])([0-9a-f])/, (_m, i: string, a: string, b: string) => `:${i}:${b}${a}`);
    if (swapped !== shares[0]) expectRejected(() => verifyShare(swapped, record), "checksum", "checksum mismatch: the share was mistyped");
  });

  it("rejects garbage with a precise format error", () => {
    const cases: [string, string][] = [
      ["", "malformed share: the input is empty"],
      ["hello world", 'malformed share: it does not start with "signstar-share-v1:"'],
      ["801abcdef", 'malformed share: it does not start with "signstar-share-v1:"'],
      ["signstar-share-v2:00:1", "unsupported share format version v2 (this host reads signstar-share-v1)"],
      ["signstar-share-v1:abc", "malformed share: expected 7 fields separated by ':', found 2"],
      ["signstar-share-v1:a:b:c:d:e:xyz", "malformed share: the checksum (last field) must be 8 hex digits"],
      ["signstar-share-v1:é", "malformed share: it contains characters other than letters, digits, ':' and '-'"],
      [`${shares[0]!}\n${shares[1]!}`, "malformed share: expected exactly one line with one share"],
      ["x".repeat(2000), "malformed share: longer than 1024 characters"],
    ];
    for (const [text, message] of cases) expectRejected(() => verifyShare(text, record), "format", message);
  });

  it("checks each field's syntax once the checksum matches", () => {
    const body = (s: string) => `${s}:${shareChecksum(s)}`;
    expectRejected(() => parseShareLine(body("signstar-share-v1:abcd:1:2-of-3:1:00")), "format", "malformed share: the share-set id must be 16 hex digits");
    expectRejected(() => parseShareLine(body(`signstar-share-v1:${"a".repeat(16)}:01:2-of-3:1:00`)), "format", "malformed share: the iteration must be a decimal number");
    expectRejected(() => parseShareLine(body(`signstar-share-v1:${"a".repeat(16)}:1:2of3:1:00`)), "format", 'malformed share: the third field must be "<threshold>-of-<shares>"');
    expectRejected(() => parseShareLine(body(`signstar-share-v1:${"a".repeat(16)}:1:4-of-3:1:00`)), "format", "malformed share: the threshold must be between 2 and 3");
    expectRejected(() => parseShareLine(body(`signstar-share-v1:${"a".repeat(16)}:1:2-of-256:1:00`)), "format", "malformed share: the number of shares must be between 2 and 255");
    expectRejected(() => parseShareLine(body(`signstar-share-v1:${"a".repeat(16)}:1:2-of-3:4:00`)), "format", "malformed share: the share index must be between 1 and 3");
    expectRejected(() => parseShareLine(body(`signstar-share-v1:${"a".repeat(16)}:1:2-of-3:0:00`)), "format", "malformed share: the share index must be between 1 and 3");
    expectRejected(() => parseShareLine(body(`signstar-share-v1:${"a".repeat(16)}:1:2-of-3:1:abc`)), "format", "malformed share: the share data must be an even number of hex digits, at most 510");
  });
});

describe("splitSecret / verifyShare / combineShares", () => {
  const cases: [number, number][] = [
    [2, 2],
    [2, 3],
    [3, 5],
    [4, 6],
    [5, 5],
  ];
  for (const [t, n] of cases) {
    it(`${t}-of-${n}: every subset of at least ${t} shares combines to the secret, smaller ones are refused`, () => {
      const secret = randomBytes(300);
      const { shares, record } = splitSecret(secret, { threshold: t, shares: n, iteration: 11 });
      expect(shares).toHaveLength(n);
      expect(record).toMatchObject({ threshold: t, shares: n, iteration: 11, format: "signstar-share-set-v1" });
      const verified = shares.map((s) => verifyShare(s, record));
      expect(verified.map((v) => v.index)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      let combined = 0;
      for (const subset of subsets(verified)) {
        if (subset.length >= t) {
          expect(Buffer.from(combineShares(subset, record)).equals(secret)).toBe(true);
          combined++;
        } else {
          expectRejected(
            () => combineShares(subset, record),
            "too-few",
            `only ${subset.length} of the ${t} required shares of set ${record.setId} are present`,
          );
        }
      }
      expect(combined).toBeGreaterThan(0);
    });
  }

  it("works for larger sets (7-of-20, random subsets, shares given in any order)", () => {
    const { shares, record } = splitSecret(SECRET, { threshold: 7, shares: 20, iteration: 0 });
    const verified = shares.map((s) => verifyShare(s, record));
    for (let round = 0; round < 10; round++) {
      const picked = [...verified].sort(() => Math.random() - 0.5).slice(0, 7 + (round % 4));
      expect(Buffer.from(combineShares(picked, record))).toEqual(Buffer.from(SECRET));
    }
  });

  it("every split gets a fresh set id, key and shares", () => {
    const a = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
    const b = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
    expect(a.record.setId).not.toBe(b.record.setId);
    expect(a.record.ciphertext).not.toBe(b.record.ciphertext);
    expect(a.shares[0]!.split(":")[5]).not.toBe(b.shares[0]!.split(":")[5]);
  });

  it("refuses bad parameters", () => {
    expect(() => splitSecret(SECRET, { threshold: 1, shares: 3, iteration: 1 })).toThrow(RangeError);
    expect(() => splitSecret(SECRET, { threshold: 4, shares: 3, iteration: 1 })).toThrow(RangeError);
    expect(() => splitSecret(SECRET, { threshold: 2, shares: 256, iteration: 1 })).toThrow(RangeError);
    expect(() => splitSecret(new Uint8Array(0), { threshold: 2, shares: 3, iteration: 1 })).toThrow(RangeError);
  });

  it("the record holds no share and no key material in the clear", () => {
    const { shares, record } = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
    const text = encodeShareSetRecord(record);
    for (const s of shares) expect(text).not.toContain(s.split(":")[5]);
    expect(text).not.toContain("backup-passphrase");
    expect(Buffer.from(record.ciphertext, "base64").toString("utf8")).not.toContain("backup");
    expect(decodeShareSetRecord(text)).toEqual(record);
  });
});

describe("rejecting bad shares (each check named, no share data in the message)", () => {
  const { shares, record } = splitSecret(SECRET, { threshold: 3, shares: 5, iteration: 2 });
  const other = splitSecret(SECRET, { threshold: 3, shares: 5, iteration: 2 });
  const older = splitSecret(SECRET, { threshold: 3, shares: 5, iteration: 1 });

  it("tampered data with a recomputed checksum is caught by the host's commitment", () => {
    const tampered = forge(shares[2]!, (s) => ({ ...s, data: (s.data[0] === "a" ? "b" : "a") + s.data.slice(1) }));
    expect(parseShareLine(tampered).index).toBe(3); // the checksum is fine
    expectRejected(
      () => verifyShare(tampered, record),
      "commitment",
      `share 3 does not match the host's commitment for share 3 of set ${record.setId}: it was altered or corrupted`,
      shares,
    );
  });

  it("a share moved to another index is caught by the commitment", () => {
    const moved = forge(shares[0]!, (s) => ({ ...s, index: 2 }));
    expectRejected(() => verifyShare(moved, record), "commitment", /^share 2 does not match the host's commitment/);
  });

  it("a share of another set of the same iteration", () => {
    expectRejected(
      () => verifyShare(other.shares[0]!, record),
      "set",
      `the share belongs to another share set (${other.record.setId}); the current share set is ${record.setId}`,
      other.shares,
    );
  });

  it("a share of another iteration", () => {
    expectRejected(
      () => verifyShare(older.shares[0]!, record),
      "iteration",
      "the share belongs to config iteration 1, but the current share set is for iteration 2",
    );
  });

  it("a share claiming other parameters", () => {
    const forged = forge(shares[0]!, (s) => ({ ...s, threshold: 2 }));
    expectRejected(() => verifyShare(forged, record), "parameters", `the share says 2-of-5, but share set ${record.setId} is 3-of-5`);
  });

  it("a share whose index has no commitment", () => {
    const truncated: ShareSetRecord = { ...record, commitments: record.commitments.slice(0, 4) };
    const fifth = shares[4]!;
    expectRejected(() => verifyShare(fifth, truncated), "index", `unknown share index 5: share set ${record.setId} has shares 1 to 5`);
  });

  it("the same share twice is refused, not silently miscombined", () => {
    const a = verifyShare(shares[0]!, record);
    const b = verifyShare(shares[1]!, record);
    const again = verifyShare(shares[0]!, record);
    expectRejected(() => combineShares([a, b, again], record), "duplicate", "share 1 was given more than once");
  });

  it("a verified share of an older record cannot be combined under a new one", () => {
    const stale = [0, 1, 2].map((i) => verifyShare(older.shares[i]!, older.record));
    expectRejected(() => combineShares(stale, record), "iteration", /^the share belongs to config iteration 1/);
  });

  it("the AEAD catches a wrong combination even if a commitment was forged on the host", () => {
    // An attacker who could rewrite a commitment (but not the ciphertext) gets a tampered share past verifyShare;
    // the AES-GCM tag still refuses the wrongly combined key.
    const tamperedLine = forge(shares[0]!, (s) => ({ ...s, data: (s.data[0] === "f" ? "e" : "f") + s.data.slice(1) }));
    const tampered = parseShareLine(tamperedLine);
    const commitments = [...record.commitments];
    commitments[0] = shareCommitment(record.setId, 1, tampered.data);
    const forgedRecord: ShareSetRecord = { ...record, commitments };
    const set = [verifyShare(tamperedLine, forgedRecord), verifyShare(shares[1]!, forgedRecord), verifyShare(shares[2]!, forgedRecord)];
    expectRejected(() => combineShares(set, forgedRecord), "combine", /authentication failed|do not combine to a key/);
  });

  it("why the wrapping matters: plain secrets.js-grempe returns garbage silently for too few shares", () => {
    secrets.init(8, "nodeCryptoRandomBytes");
    const key = randomBytes(32).toString("hex");
    const raw = secrets.share(key, 5, 3);
    expect(secrets.combine(raw.slice(0, 2))).not.toBe(key);
    expect(secrets.combine(raw.slice(0, 3))).toBe(key);
  });

  it("a VerifiedShare never shows its data when logged or serialized", () => {
    const v: VerifiedShare = verifyShare(shares[3]!, record);
    const data = shares[3]!.split(":")[5]!;
    expect(inspect(v, { showHidden: true, depth: 5 })).not.toContain(data);
    expect(JSON.stringify({ v })).toBe(JSON.stringify({ v: `[share 4 of set ${record.setId}]` }));
    expect(`${v}`).not.toContain(data);
    expect(v.data()).toBe(data);
    expect(v.line()).toBe(shares[3]);
  });
});

describe("share-set record decoding", () => {
  const { record } = splitSecret(SECRET, { threshold: 2, shares: 3, iteration: 1 });
  it("rejects malformed records with exit code Secret", () => {
    const bad = (mutate: (o: Record<string, unknown>) => void, message: RegExp) => {
      const o = JSON.parse(encodeShareSetRecord(record)) as Record<string, unknown>;
      mutate(o);
      const e = shareError(() => decodeShareSetRecord(JSON.stringify(o), "record.json"));
      expect(e.problem).toBe("record");
      expect(e.exitCode).toBe(ExitCode.Secret);
      expect(e.message).toMatch(message);
    };
    bad((o) => (o["format"] = "x"), /^record.json: invalid share-set record: format must be/);
    bad((o) => (o["commitments"] = ["00"]), /commitments must be 3 SHA-256 hex digests/);
    bad((o) => (o["threshold"] = 4), /threshold\/shares are out of range/);
    bad((o) => (o["extra"] = 1), /unknown field "extra"/);
    bad((o) => delete o["nonce"], /field "nonce" is missing or invalid/);
    expect(shareError(() => decodeShareSetRecord("{", "r")).message).toBe("r: invalid share-set record: not valid JSON");
  });
});
