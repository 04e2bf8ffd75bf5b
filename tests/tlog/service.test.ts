/**
 * The log writer's socket with real Unix users (needs `npm run build`): a signing user's client process reserves
 * and commits, and its entries carry the user the kernel reported (SO_PEERCRED), not one the client could claim;
 * another user is refused; a connection that goes away leaves void entries, not holes; bad requests are refused.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeEntry } from "../../lib/tlog/entry.js";
import { ed25519NoteSigner, parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch, fetchCheckpoint, verifyEntryInclusion } from "../../lib/tlog/reader.js";
import { serveLog } from "../../lib/tlog/server.js";
import { LogWriter } from "../../lib/tlog/writer.js";
import { REPO_ROOT } from "../support/repo.js";
import { run } from "../support/run.js";
import { TestUsers, type TestUser } from "../support/users.js";

const users = new TestUsers();
const signer = ed25519NoteSigner("signstar.test/tlog-service", new Uint8Array(32).fill(5));
let root: string;
let socketPath: string;
let server: Server;
let writer: LogWriter;
let signing: TestUser;
let other: TestUser;
const refused: number[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-tlog-service-"));
  await chmod(root, 0o755);
  signing = await users.add("tlsign");
  other = await users.add("tlother");
  writer = await LogWriter.open({ dir: join(root, "log"), signer, batchWindowMs: 1 });
  socketPath = join(root, "writer.sock");
  server = createServer();
  serveLog(server, writer, { userOf: (uid) => (uid === signing.uid ? signing.name : undefined), onRefused: (uid) => refused.push(uid) });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  await chmod(socketPath, 0o666);
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await writer.close();
  await rm(root, { recursive: true, force: true });
  await users.removeAll();
});

function client(user: TestUser, count: number) {
  return run(process.execPath, [join(REPO_ROOT, "dist", "tests", "support", "tlog-log-client.js"), socketPath, String(count)], { uid: user.uid, gid: user.gid, timeoutMs: 30_000 });
}

describe("the log writer socket", () => {
  it("commits a signing user's entries under the name the kernel reports", async () => {
    const r = await client(signing, 3);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const indexes = r.stdout.trim().split("\n").map(Number);
    expect(indexes).toHaveLength(3);
    const fetch = directoryFetch(join(root, "log"));
    const { checkpoint } = await fetchCheckpoint(fetch, parseVerifierKey(signer.verifierKey));
    for (const i of indexes) expect(decodeEntry(await verifyEntryInclusion(fetch, checkpoint, i))).toMatchObject({ kind: "signature", user: signing.name });
  });

  it("refuses a user that is not a signing user, before any reservation", async () => {
    const before = writer.size;
    const r = await client(other, 1);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not a signing user/);
    expect(r.stdout).toBe("");
    expect(refused).toContain(other.uid);
    expect(writer.size).toBe(before);
  });

  it("voids the reservations of a connection that closes, and refuses malformed or foreign requests", async () => {
    // The test process itself (root) is let in only for this check, through a second server.
    const path2 = join(root, "writer2.sock");
    const s2 = createServer();
    serveLog(s2, writer, { userOf: (uid) => (uid === process.getuid!() ? signing.name : undefined) });
    await new Promise<void>((resolve) => s2.listen(path2, resolve));
    try {
      const lines = await new Promise<string[]>((resolve, reject) => {
        const c = createConnection(path2);
        let got = "";
        c.on("data", (d) => {
          got += d.toString();
          if (got.split("\n").length > 4) {
            c.end();
            resolve(got.trim().split("\n"));
          }
        });
        c.on("error", reject);
        c.write('{"op":"reserve"}\n{"op":"commit","index":0,"key":"x","digest":"y","created":1,"packet":"z"}\n{"op":"reserve","user":"root"}\nnot json\n');
      });
      const answers = lines.map((l) => JSON.parse(l) as { ok: boolean; index?: number; error?: string });
      expect(answers[0]).toMatchObject({ ok: true });
      expect(answers.slice(1).map((a) => a.ok)).toEqual([false, false, false]);
      const reserved = answers[0]!.index!;
      await new Promise((r) => setTimeout(r, 200));
      expect(writer.size).toBe(reserved + 1);
      const fetch = directoryFetch(join(root, "log"));
      const { checkpoint } = await fetchCheckpoint(fetch, parseVerifierKey(signer.verifierKey));
      expect(decodeEntry(await verifyEntryInclusion(fetch, checkpoint, reserved))).toMatchObject({ kind: "void", user: signing.name });
    } finally {
      await new Promise((resolve) => s2.close(resolve));
    }
  });
});
