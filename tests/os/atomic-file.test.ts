import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../lib/os/atomic-file.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "signstar-atomic-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  it("writes the exact mode whatever the umask, and the requested owner", async () => {
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(join(dir, "pub"), "x", { mode: 0o644 });
    } finally {
      process.umask(old);
    }
    expect((await lstat(join(dir, "pub"))).mode & 0o7777).toBe(0o644);
    await writeFileAtomic(join(dir, "secret"), "s3cret", { mode: 0o600, uid: 65534, gid: 65534 });
    const st = await lstat(join(dir, "secret"));
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o600, 65534, 65534]);
    expect(await readFile(join(dir, "secret"), "utf8")).toBe("s3cret");
  });

  it("replaces an existing file and leaves no temporary file behind", async () => {
    const path = join(dir, "f");
    await writeFile(path, "old", { mode: 0o666 });
    await writeFileAtomic(path, new Uint8Array([0x6e, 0x65, 0x77]), { mode: 0o600 });
    expect(await readFile(path, "utf8")).toBe("new");
    expect((await lstat(path)).mode & 0o7777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["f"]);
  });

  it("replaces a symbolic link instead of writing through it", async () => {
    const victim = join(dir, "victim");
    await writeFile(victim, "untouched");
    const link = join(dir, "link");
    await symlink(victim, link);
    await writeFileAtomic(link, "mine", { mode: 0o600 });
    expect(await readFile(victim, "utf8")).toBe("untouched");
    expect((await lstat(link)).isFile()).toBe(true);
    await expect(readlink(link)).rejects.toThrow(/EINVAL/);
  });

  it("on failure removes its temporary file and leaves the target alone", async () => {
    const target = join(dir, "adir");
    await mkdir(target);
    await writeFile(join(target, "keep"), "k");
    await expect(writeFileAtomic(target, "data", { mode: 0o600 })).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect((await readdir(dir)).sort()).toEqual(["adir"]);
    expect(await readdir(target)).toEqual(["keep"]);
  });
});
