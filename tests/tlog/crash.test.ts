/**
 * SIGKILL during appends (needs `npm run build`): a child process appends as fast as it can and prints each index
 * whose commit resolved; it is killed at a random moment, five times over the same log. After each kill the log
 * reopens (its root recomputed from the tiles and checked against the signed checkpoint), every index the child
 * reported is in the tree with exactly the child's entry, and Go's verifier accepts the tree and its consistency
 * with the tree before the kill.
 */
import { spawn } from "node:child_process";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeEntry } from "../../lib/tlog/entry.js";
import { generateLogKeyFile } from "../../lib/tlog/key-file.js";
import { parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch, fetchCheckpoint, verifyEntryInclusion } from "../../lib/tlog/reader.js";
import { LogWriter } from "../../lib/tlog/writer.js";
import { buildGoVerifier, goVerify } from "../support/go-tlog-verifier.js";
import { REPO_ROOT } from "../support/repo.js";
import { testEntry } from "./entries.js";

let root: string;
let go: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-tlog-crash-"));
  go = await buildGoVerifier();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs the child until it has reported `after` durable commits past its start, then SIGKILLs it. */
function appendThenKill(dir: string, keyFile: string, after: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, "dist", "tests", "support", "tlog-crash-child.js"), dir, keyFile], { stdio: ["ignore", "pipe", "pipe"] });
    const reported: number[] = [];
    let buffer = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) if (/^\d+$/.test(line)) reported.push(Number(line));
      if (reported.length >= after) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (signal === "SIGKILL") resolve(reported);
      else reject(new Error(`crash child ended with ${code}: ${stderr}`));
    });
  });
}

describe("SIGKILL while appending", () => {
  it("never loses a commit that resolved and never corrupts the tree", async () => {
    const dir = join(root, "log");
    const keyFile = join(root, "log.key");
    const signer = await generateLogKeyFile(keyFile, "signstar.test/tlog-crash");
    const verifier = parseVerifierKey(signer.verifierKey);
    let before = join(root, "empty.checkpoint");
    await (await LogWriter.open({ dir, signer })).close();
    await copyFile(join(dir, "checkpoint"), before);
    let seen = 0;
    for (let round = 0; round < 5; round++) {
      const reported = await appendThenKill(dir, keyFile, 200 + Math.floor(Math.random() * 400));
      expect(reported.length).toBeGreaterThan(0);
      const reopened = await LogWriter.open({ dir, signer });
      await reopened.close();
      const { checkpoint } = await fetchCheckpoint(directoryFetch(dir), verifier);
      expect(checkpoint.size).toBeGreaterThan(Math.max(...reported));
      expect(checkpoint.size).toBeGreaterThanOrEqual(seen);
      const sample = [...reported.slice(0, 5), ...reported.slice(-20)];
      for (const i of sample) await verifyEntryInclusion(directoryFetch(dir), checkpoint, i, encodeEntry(testEntry(i)));
      for (const i of reported.slice(-3)) expect((await goVerify(go, dir, signer.verifierKey, "inclusion", String(i))).code).toBe(0);
      const consistency = await goVerify(go, dir, signer.verifierKey, "consistency", before);
      expect(consistency.stderr).toBe("");
      before = join(root, `round-${round}.checkpoint`);
      await copyFile(join(dir, "checkpoint"), before);
      seen = checkpoint.size;
    }
  }, 180_000);
});
