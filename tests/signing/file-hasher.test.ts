import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SigningInputError } from "../../lib/signing/errors.js";
import { hashBytes, hashFile, resolveImplementation } from "../../lib/signing/file-hasher.js";
import { nativeSha512, nativeSha512Status } from "../../lib/signing/native-sha512.js";
import { hex } from "./support.js";
import { mulberry32 } from "../support/random.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const addonPath = join(root, "lib/signing/native/sha512/build/Release/sha512_state.node");
let dir = "";

beforeAll(() => {
  // `npm test` builds the addon first (npm run build → build:native). Building it here would race the other test
  // files that load it at the same time, so a missing addon is an error that says what to do.
  if (!existsSync(addonPath)) throw new Error(`the native SHA-512 addon ${addonPath} is missing: run "npm run build" first`);
  dir = mkdtempSync(join(tmpdir(), "signstar-hasher-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SEED = 0x51a5e7a1;

function sha512(data: Uint8Array): string {
  return createHash("sha512").update(data).digest("hex");
}

describe("native addon", () => {
  it("is built, loads and is what the auto path uses", () => {
    const status = nativeSha512Status();
    expect(status.error).toBeNull();
    expect(status.loaded).toBe(true);
    expect(status.path).toBe(addonPath);
    expect(nativeSha512()?.version()).toMatch(/^OpenSSL 3\./);
    expect(resolveImplementation("auto")).toBe("native");
    expect(resolveImplementation("js")).toBe("js");
  });

  it("rejects bad arguments with a TypeError/RangeError instead of crashing", () => {
    const addon = nativeSha512();
    if (addon === null) throw new Error("addon missing");
    const ctx = addon.create();
    expect(() => addon.update(ctx, new Uint8Array(4), 5)).toThrow(RangeError);
    expect(() => addon.update({}, new Uint8Array(4), 1)).toThrow(TypeError);
    expect(() => addon.update(ctx, new Uint16Array(4) as unknown as Uint8Array, 1)).toThrow(TypeError);
  });

  it(`produces the same 208-byte state as the pure-JS hasher on random inputs (seed ${SEED})`, () => {
    const random = mulberry32(SEED);
    const sizes = [0, 1, 127, 128, 129, 255, 256, 1023, 1024, 100_000];
    for (let i = 0; i < 40; i++) sizes.push(Math.floor(random() * 50_000));
    for (const size of sizes) {
      const data = randomBytes(size);
      const native = hashBytes(data, "native");
      const js = hashBytes(data, "js");
      expect(hex(native.toBytes()), `seed ${SEED}, size ${size}`).toBe(hex(js.toBytes()));
      expect(hex(native.digest()), `seed ${SEED}, size ${size}`).toBe(sha512(data));
    }
  });

  it(`matches the JS hasher across many small, unaligned updates (seed ${SEED})`, () => {
    const addon = nativeSha512();
    if (addon === null) throw new Error("addon missing");
    const random = mulberry32(SEED);
    const data = randomBytes(10_000);
    const ctx = addon.create();
    for (let at = 0; at < data.length; ) {
      const n = Math.min(data.length - at, 1 + Math.floor(random() * 300));
      addon.update(ctx, data.subarray(at, at + n), n);
      at += n;
    }
    expect(hex(addon.state(ctx)), `seed ${SEED}`).toBe(hex(hashBytes(data, "js").toBytes()));
  });
});

describe("hashFile", () => {
  const sizes = [0, 1, 127, 128, 129, 65_536, 65_537, 3 * 1024 * 1024 + 17];
  for (const size of sizes) {
    it(`hashes a ${size}-byte file identically with native and JS (chunk 64 KiB and default)`, async () => {
      const data = randomBytes(size);
      const path = join(dir, `f${size}`);
      writeFileSync(path, data);
      const native = await hashFile(path, { implementation: "native", chunkSize: 65536 });
      const js = await hashFile(path, { implementation: "js" });
      const auto = await hashFile(path);
      expect(hex(native.toBytes())).toBe(hex(js.toBytes()));
      expect(hex(auto.toBytes())).toBe(hex(js.toBytes()));
      expect(hex(native.digest())).toBe(sha512(data));
    });
  }

  it("reports progress up to the file size", async () => {
    const path = join(dir, "progress");
    writeFileSync(path, randomBytes(300_000));
    const seen: [number, number][] = [];
    await hashFile(path, { chunkSize: 65536, onProgress: (done, total) => seen.push([done, total]) });
    expect(seen.length).toBe(5);
    expect(seen.at(-1)).toEqual([300_000, 300_000]);
  });

  it("stops when aborted", async () => {
    const path = join(dir, "abort");
    writeFileSync(path, randomBytes(1_000_000));
    const ac = new AbortController();
    const run = hashFile(path, { chunkSize: 65536, signal: ac.signal, onProgress: () => ac.abort() });
    await expect(run).rejects.toThrow(/abort/i);
  });

  it("names the file it cannot read", async () => {
    await expect(hashFile(join(dir, "missing"))).rejects.toThrow(SigningInputError);
    await expect(hashFile(join(dir, "missing"))).rejects.toThrow(/cannot open .*missing: no such file$/);
    await expect(hashFile(dir)).rejects.toThrow(/is not a regular file/);
    await expect(hashFile(join(dir, "abort"), { chunkSize: 10 })).rejects.toThrow(/chunkSize 10 is outside/);
  });
});
