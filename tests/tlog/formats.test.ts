/**
 * The C2SP formats: tile paths (x001/234 groups, partial tiles, the bounded grammar the log_reader serves), entry
 * bundles, signed notes with Ed25519 key ids, checkpoints, the canonical entry encoding, and the key file.
 */
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from "../../lib/tlog/checkpoint.js";
import { decodeEntry, encodeEntry, type SignatureEntry } from "../../lib/tlog/entry.js";
import { LogError, LogFormatError, LogVerifyError } from "../../lib/tlog/errors.js";
import { generateLogKeyFile, loadLogKeyFile } from "../../lib/tlog/key-file.js";
import { EMPTY_ROOT, sha256 } from "../../lib/tlog/merkle.js";
import { ed25519NoteSigner, openNote, parseVerifierKey, signNote } from "../../lib/tlog/note.js";
import { decodeBundle, encodeBundle, encodeTileIndex, parseLogPath, tilePath } from "../../lib/tlog/tiles.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-tlog-formats-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const seed = Uint8Array.from({ length: 32 }, (_, i) => i);

describe("tile paths", () => {
  it("encode indexes in x-prefixed groups of three digits and partial tiles as .p/<W>", () => {
    expect(encodeTileIndex(0)).toBe("000");
    expect(encodeTileIndex(1234067)).toBe("x001/x234/067");
    expect(tilePath({ level: 0, index: 1234067, width: 256 })).toBe("tile/0/x001/x234/067");
    expect(tilePath({ level: 2, index: 5, width: 17 })).toBe("tile/2/005.p/17");
    expect(tilePath({ level: "entries", index: 1000, width: 3 })).toBe("tile/entries/x001/000.p/3");
  });

  it("parse only the canonical grammar: checkpoint, tiles, bundles", () => {
    expect(parseLogPath("checkpoint")).toEqual({ kind: "checkpoint" });
    expect(parseLogPath("tile/0/x001/234")).toEqual({ kind: "tile", level: 0, index: 1234, width: 256 });
    expect(parseLogPath("tile/entries/007.p/255")).toEqual({ kind: "tile", level: "entries", index: 7, width: 255 });
    for (const bad of ["tile/0/../checkpoint", "/etc/passwd", "tile/0/1234", "tile/0/x000/001", "tile/00/001", "tile/64/000", "tile/0/001.p/256", "tile/0/001.p/0",
      "tile/0/001.p/07", "tile//001", ".lock", "tile/0/001/", "checkpoint/", "tile/data/000", "tile/0/x001/x002/x003/x004/x005/006"]) {
      expect(() => parseLogPath(bad), bad).toThrow(LogFormatError);
    }
  });

  it("bundle entries with big-endian uint16 lengths", () => {
    const bundle = encodeBundle([Uint8Array.of(1, 2), new Uint8Array(300)]);
    expect([...bundle.subarray(0, 6)]).toEqual([0, 2, 1, 2, 1, 44]);
    expect(decodeBundle(bundle, 2).map((e) => e.length)).toEqual([2, 300]);
    expect(() => decodeBundle(bundle.subarray(0, 10), 2)).toThrow(LogVerifyError);
    expect(() => decodeBundle(bundle, 3)).toThrow(LogVerifyError);
  });
});

describe("signed notes and checkpoints", () => {
  const signer = ed25519NoteSigner("example.org/log", seed);

  it("derive the key id from SHA-256(name || 0x0A || 0x01 || key) and print name+id+key", () => {
    const [, name, id, key] = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(signer.verifierKey)!;
    const pub = Buffer.from(key!, "base64");
    expect(name).toBe("example.org/log");
    expect(pub[0]).toBe(1);
    expect(id).toBe(Buffer.from(sha256(Buffer.from("example.org/log\n"), pub)).subarray(0, 4).toString("hex"));
    expect(parseVerifierKey(signer.verifierKey).name).toBe("example.org/log");
    expect(() => parseVerifierKey(signer.verifierKey.replace(/\+[0-9a-f]{8}\+/, "+00000000+"))).toThrow(LogFormatError);
  });

  it("sign and open; a changed text, a wrong key or a foreign-only signature fail", async () => {
    const note = await signNote("hello\n", signer);
    const text = Buffer.from(note).toString();
    expect(text).toMatch(/^hello\n\n\u2014 example\.org\/log [A-Za-z0-9+/=]+\n$/);
    const v = parseVerifierKey(signer.verifierKey);
    expect(openNote(note, v)).toBe("hello\n");
    expect(() => openNote(Buffer.from(text.replace("hello", "hellp")), v)).toThrow(LogVerifyError);
    const other = ed25519NoteSigner("example.org/log", new Uint8Array(32).fill(9));
    expect(() => openNote(note, parseVerifierKey(other.verifierKey))).toThrow(/not signed by/);
  });

  it("format and parse checkpoints strictly, checking the origin", async () => {
    const c = { origin: "example.org/log", size: 3, root: EMPTY_ROOT, extensions: [] };
    expect(formatCheckpoint(c)).toBe(`example.org/log\n3\n${Buffer.from(EMPTY_ROOT).toString("base64")}\n`);
    expect(parseCheckpoint(formatCheckpoint(c))).toEqual(c);
    expect(() => parseCheckpoint(formatCheckpoint(c).replace("\n3\n", "\n03\n"))).toThrow(LogVerifyError);
    const note = await signCheckpoint(c, signer);
    expect(openCheckpoint(note, parseVerifierKey(signer.verifierKey)).size).toBe(3);
    expect(() => openCheckpoint(note, parseVerifierKey(signer.verifierKey), "other/log")).toThrow(/origin/);
  });
});

describe("log entries", () => {
  const entry: SignatureEntry = { kind: "signature", key: "ab".repeat(20), digest: "cd".repeat(64), created: 1700000000, user: "signer1", packet: "ef".repeat(32) };

  it("encode in the documented v1 text form and decode only that exact form", () => {
    const bytes = encodeEntry(entry);
    expect(Buffer.from(bytes).toString()).toBe(
      `signstar-log-entry v1 signature\nkey ${"ab".repeat(20)}\ndigest ${"cd".repeat(64)}\ncreated 1700000000\nuser signer1\npacket ${"ef".repeat(32)}\n`,
    );
    expect(decodeEntry(bytes)).toEqual(entry);
    expect(decodeEntry(encodeEntry({ kind: "void", user: "signer1", reserved: 5 }))).toEqual({ kind: "void", user: "signer1", reserved: 5 });
    const text = Buffer.from(bytes).toString();
    for (const bad of [text.replace("created 1700000000", "created 01700000000"), text.replace("ab", "AB"), text.trimEnd(), `${text}\n`, text.replace("user signer1", "user ../x")]) {
      expect(() => decodeEntry(Buffer.from(bad)), bad).toThrow(LogFormatError);
    }
    expect(() => encodeEntry({ ...entry, digest: "00" })).toThrow(LogFormatError);
  });
});

describe("the log key file", () => {
  it("is created 0600 root-only and exclusively, and loads to the same signer", async () => {
    const path = join(dir, "log.key");
    const made = await generateLogKeyFile(path, "example.org/log");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await loadLogKeyFile(path)).verifierKey).toBe(made.verifierKey);
    await expect(generateLogKeyFile(path, "example.org/log")).rejects.toThrow(LogError);
    const loose = join(dir, "loose.key");
    await writeFile(loose, "x", { mode: 0o644 });
    await expect(loadLogKeyFile(loose)).rejects.toThrow(/mode|0600/);
  });
});
