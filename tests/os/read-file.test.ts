// The one checked file reader: every check on the descriptor, no final symbolic link unless asked, bounded reads.
import { execFileSync } from "node:child_process";
import { chmod, chown, link, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileReadError, readCheckedFile, type CheckedReadOptions, type FileProblem } from "../../lib/os/read-file.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-read-file-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function problem(path: string, opts: Partial<CheckedReadOptions> = {}): Promise<FileProblem> {
  try {
    await readCheckedFile(path, { what: "test file", maxBytes: 16, ...opts });
  } catch (error) {
    if (error instanceof FileReadError) return error.problem;
    throw error;
  }
  throw new Error(`expected ${path} to be refused`);
}

describe("readCheckedFile", () => {
  it("reads a file up to the bound and returns the descriptor's stat", async () => {
    const path = join(dir, "ok");
    await writeFile(path, "0123456789abcdef", { mode: 0o640 });
    const { data, stat } = await readCheckedFile(path, { what: "test file", maxBytes: 16, owner: 0, mode: 0o640 });
    expect(data.toString()).toBe("0123456789abcdef");
    expect(stat.size).toBe(16);
  });

  it("refuses one byte more than the bound, naming the file", async () => {
    const path = join(dir, "big");
    await writeFile(path, "x".repeat(17));
    expect(await problem(path)).toEqual({ kind: "size", size: 17, max: 16, whileReading: false });
    await expect(readCheckedFile(path, { what: "test file", maxBytes: 16 })).rejects.toThrow(`test file ${path} is larger than 16 bytes`);
  });

  it("refuses a final symbolic link unless asked to follow it", async () => {
    const target = join(dir, "target");
    const path = join(dir, "link");
    await writeFile(target, "t");
    await symlink(target, path);
    expect(await problem(path)).toMatchObject({ kind: "open", code: "ELOOP" });
    expect((await readCheckedFile(path, { what: "test file", maxBytes: 16, followSymlinks: true })).data.toString()).toBe("t");
  });

  it("refuses a directory and a FIFO without blocking on the open", async () => {
    const d = join(dir, "a-dir");
    await mkdir(d);
    expect(await problem(d)).toEqual({ kind: "type", type: "a directory" });
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    expect(await problem(fifo)).toEqual({ kind: "type", type: "a FIFO" });
  });

  it("checks owner, exact mode, writable bits, links and emptiness on the descriptor", async () => {
    const path = join(dir, "checked");
    await writeFile(path, "secret", { mode: 0o600 });
    await chown(path, 1234, 1234);
    expect(await problem(path, { owner: 0 })).toEqual({ kind: "owner", uid: 1234, expected: 0 });
    await chown(path, 0, 0);
    await chmod(path, 0o644);
    expect(await problem(path, { mode: 0o600 })).toEqual({ kind: "mode", mode: 0o644, expected: 0o600 });
    await chmod(path, 0o666);
    expect(await problem(path, { clearBits: 0o022 })).toEqual({ kind: "writable", mode: 0o666, clearBits: 0o022 });
    await link(path, join(dir, "second-link"));
    expect(await problem(path, { singleLink: true })).toEqual({ kind: "links", links: 2 });
    const empty = join(dir, "empty");
    await writeFile(empty, "");
    expect(await problem(empty, { nonEmpty: true })).toEqual({ kind: "empty" });
  });

  it("reports a missing file with its errno code and a short reason", async () => {
    const path = join(dir, "missing");
    expect(await problem(path)).toEqual({ kind: "open", code: "ENOENT", reason: "no such file" });
    await expect(readCheckedFile(path, { what: "test file", maxBytes: 1 })).rejects.toThrow(`test file ${path} cannot be opened: no such file`);
  });
});
