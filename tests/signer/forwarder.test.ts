/**
 * The C forwarder (dist/bin/signstar-download-signature, lib/signer/native/forwarder.c) against a resident signer
 * made of the real request loop (lib/signer/server.ts) with a test handler, run as a real Unix user: it relays
 * stdin and the framed answer, exits with the signer's code, reports a lost signer in one line, falls back to
 * <self>.js without a signer (or with arguments) within the per-user flock slots, and the signer sees the
 * caller's uid through SO_PEERCRED.
 */
import { spawn } from "node:child_process";
import { copyFile, chmod, chown, mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { serveRequests, type Connection } from "../../lib/signer/server.js";
import { listenSigner } from "../../lib/signer/listen.js";
import { peerCredentials } from "../../lib/os/unix-socket.js";
import type { Answer } from "../../lib/signer/frames.js";
import { readBounded } from "../../lib/os/read-stream.js";
import { run } from "../support/run.js";
import { TestUsers, type TestUser } from "../support/users.js";
import { REPO_ROOT } from "../support/repo.js";

const users = new TestUsers();
let user: TestUser;
let other: TestUser;
let root: string;
let bin: string;

const signerDir = (name: string): string => join(root, "run/signstar/signer", name);

beforeAll(async () => {
  user = await users.add("fwd");
  other = await users.add("fwdo");
  root = await mkdtemp(join(tmpdir(), "signstar-fwd-"));
  await chmod(root, 0o755);
  await mkdir(join(root, "run/signstar/signer"), { recursive: true, mode: 0o755 });
  for (const u of [user, other]) {
    await mkdir(signerDir(u.name), { mode: 0o700 });
    await chown(signerDir(u.name), u.uid, u.gid);
  }
  // A copy of the forwarder with a stand-in Node implementation next to it (<self>.js).
  const binDir = join(root, "bin");
  await mkdir(binDir, { mode: 0o755 });
  bin = join(binDir, "signstar-download-signature");
  await copyFile(join(REPO_ROOT, "dist/bin/signstar-download-signature"), bin);
  await chmod(bin, 0o755);
  await writeFile(`${bin}.js`, '#!/bin/sh\necho "fallback $# $*"\ncat >/dev/null\nsleep "${FALLBACK_SLEEP:-0}"\nexit 42\n', { mode: 0o755 });
}, 60_000);

afterAll(async () => {
  await users.removeAll();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Runs the forwarder as `who` with SIGNSTAR_ROOT pointing at the test root. */
function forward(who: TestUser, input: string, extra: NodeJS.ProcessEnv = {}, args: string[] = []) {
  return run(bin, args, { input, uid: who.uid, gid: who.gid, env: { PATH: "/usr/bin:/bin", SIGNSTAR_ROOT: root, ...extra }, timeoutMs: 30_000 });
}

/** A signer for `who` (the test runs as root, so the socket is handed to the user as systemd would). */
async function startSigner(who: TestUser, handle: (c: Connection) => Promise<Answer>, limits = { concurrent: 4, queued: 4 }) {
  const path = join(signerDir(who.name), "socket");
  const { server } = await listenSigner({ env: {}, path, uid: who.uid });
  await chown(path, who.uid, who.gid);
  const serving = serveRequests({
    server,
    limits,
    idleTimeoutMs: 60_000,
    handle,
    refuse: () => ({ stderr: "signstar-download-signature: busy", code: ExitCode.Busy }),
    internal: () => ({ stderr: "signstar-download-signature: internal error", code: ExitCode.Internal }),
  });
  return {
    serving,
    stop: async () => {
      serving.close();
      await serving.done;
      await rm(path, { force: true });
    },
  };
}

const echo = async ({ input }: Connection): Promise<Answer> => {
  const text = (await readBounded(input, "the request", 1 << 20, 10_000)).toString("utf8");
  return { stdout: `echo:${text.toUpperCase()}`, code: 0 };
};

describe("the forwarder with a resident signer", () => {
  it("relays stdin, the stdout bytes and the exit code", async () => {
    const signer = await startSigner(user, echo);
    try {
      const big = "x".repeat(300_000);
      const r = await forward(user, `hello ${big}`);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`echo:HELLO ${big.toUpperCase()}`);
    } finally {
      await signer.stop();
    }
  });

  it("relays a refusal: one stderr line, its exit code, nothing on stdout", async () => {
    const signer = await startSigner(user, async ({ input }) => {
      await readBounded(input, "the request", 1024, 10_000);
      return { stdout: "", stderr: "signstar-download-signature: the request is malformed", code: ExitCode.BadInput };
    });
    try {
      const r = await forward(user, "{");
      expect(r).toEqual({ code: ExitCode.BadInput, stdout: "", stderr: "signstar-download-signature: the request is malformed\n" });
    } finally {
      await signer.stop();
    }
  });

  it("answers an oversized request with the signer's line although the signer stopped reading", async () => {
    const signer = await startSigner(user, async ({ input }) => {
      try {
        await readBounded(input, "the request", 1024, 10_000);
        return { code: 0 };
      } catch (error) {
        return { stderr: `signstar-download-signature: ${(error as Error).message}`, code: ExitCode.BadInput };
      }
    });
    try {
      const r = await forward(user, "y".repeat(4 << 20));
      expect(r.code).toBe(ExitCode.BadInput);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      await signer.stop();
    }
  });

  it("sees the caller's uid through SO_PEERCRED", async () => {
    const signer = await startSigner(user, async (c) => {
      const peer = peerCredentials(c.socket);
      await readBounded(c.input, "the request", 1024, 10_000);
      return { stdout: `${peer.uid}:${peer.gid}`, code: 0 };
    });
    try {
      const r = await forward(user, "");
      expect(r.stdout).toBe(`${user.uid}:${user.gid}`);
    } finally {
      await signer.stop();
    }
  });

  it("reports a signer that stops before answering in one line with the busy code, and the next request works", async () => {
    let first = true;
    const signer = await startSigner(user, async (c) => {
      await readBounded(c.input, "the request", 1024, 10_000);
      if (first) {
        first = false;
        c.socket.destroy();
      }
      return { stdout: "ok", code: 0 };
    });
    try {
      const lost = await forward(user, "a");
      expect(lost).toEqual({ code: ExitCode.Busy, stdout: "", stderr: "signstar-download-signature: the resident signer stopped before answering; try again\n" });
      const next = await forward(user, "b");
      expect(next).toEqual({ code: 0, stdout: "ok", stderr: "" });
    } finally {
      await signer.stop();
    }
  });

  it("refuses beyond the concurrent and queued limits in one line, and handles the rest", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered = 0;
    const signer = await startSigner(
      user,
      async (c) => {
        await readBounded(c.input, "the request", 1024, 10_000);
        entered++;
        await gate;
        return { stdout: "done", code: 0 };
      },
      { concurrent: 1, queued: 1 },
    );
    try {
      const held = forward(user, "1");
      while (entered === 0) await new Promise((r) => setTimeout(r, 10));
      const queued = forward(user, "2");
      while (signer.serving.load().queued === 0) await new Promise((r) => setTimeout(r, 10));
      const refused = await forward(user, "3");
      expect(refused).toEqual({ code: ExitCode.Busy, stdout: "", stderr: "signstar-download-signature: busy\n" });
      release();
      expect((await held).code).toBe(0);
      expect(await queued).toEqual({ code: 0, stdout: "done", stderr: "" });
    } finally {
      await signer.stop();
    }
  });

  it("cannot reach another user's signer: the directory is the other user's 0700", async () => {
    const signer = await startSigner(other, echo);
    try {
      // The user's own socket does not exist, so it falls back; the other user's is not reachable at all.
      const probe = await run("setpriv", ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups", process.execPath, "-e",
        `require("net").connect(process.argv[1]).on("connect",()=>process.exit(0)).on("error",e=>{console.log(e.code);process.exit(1)})`, join(signerDir(other.name), "socket")],
        { timeoutMs: 20_000 });
      expect(probe.code).toBe(1);
      expect(probe.stdout.trim()).toBe("EACCES");
    } finally {
      await signer.stop();
    }
  });
});

describe("the forwarder without a resident signer", () => {
  it("execs <self>.js with the same arguments and stdin", async () => {
    const r = await forward(user, "request");
    expect(r).toEqual({ code: 42, stdout: "fallback 0 \n", stderr: "" });
    const v = await forward(user, "", {}, ["--version"]);
    expect(v.stdout).toBe("fallback 1 --version\n");
  });

  it("runs as root straight into the Node implementation", async () => {
    const r = await run(bin, ["--help"], { input: "", env: { PATH: "/usr/bin:/bin", SIGNSTAR_ROOT: root } });
    expect(r.stdout).toBe("fallback 1 --help\n");
  });

  it("bounds the fallback per user with flock slots: busy in one line when run and queue slots are taken", async () => {
    const env = { SIGNSTAR_SIGNER_CONCURRENT: "1", SIGNSTAR_SIGNER_QUEUED: "1" };
    const dir = signerDir(user.name);
    // Hold run.0 and queue.0 as another process would.
    const holders = [];
    for (const name of ["run.0", "queue.0"]) {
      // The slot files are the user's (the forwarder makes them so); root's flock(1) would create them root-owned.
      await writeFile(join(dir, name), "", { mode: 0o600 });
      await chown(join(dir, name), user.uid, user.gid);
      // Own process group: killing it ends flock and the sleep that inherited the lock.
      const h = spawn("flock", ["--exclusive", join(dir, name), "sleep", "60"], { stdio: "ignore", detached: true });
      holders.push(h);
    }
    try {
      // Both slots must be held before the forwarder tries them (the holders start concurrently).
      for (const name of ["run.0", "queue.0"]) {
        while ((await run("flock", ["--nonblock", join(dir, name), "true"])).code === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const busy = await forward(user, "x", env);
      expect(busy).toEqual({ code: ExitCode.Busy, stdout: "", stderr: "signstar-download-signature: busy: too many signing requests of this user at once; try again later\n" });
    } finally {
      for (const h of holders) process.kill(-h.pid!, "SIGKILL");
    }
    const free = async (name: string): Promise<void> => {
      while ((await run("flock", ["--nonblock", join(dir, name), "true"])).code !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await free("run.0");
    await free("queue.0");
    // Freed: a waiting request runs once the slot is released.
    spawn("flock", ["--exclusive", join(dir, "run.0"), "sleep", "1"], { stdio: "ignore" });
    const waited = await forward(user, "x", env);
    expect(waited).toEqual({ code: 42, stdout: "fallback 0 \n", stderr: "" });
  });

  it("uses the exit codes of lib/errors.ts", async () => {
    const source = await readFile(join(REPO_ROOT, "lib/signer/native/forwarder.c"), "utf8");
    expect(source).toContain(`#define EXIT_BUSY ${ExitCode.Busy}\n`);
    expect(source).toContain(`#define EXIT_INTERNAL ${ExitCode.Internal}\n`);
    // The slot files stay private to the user.
    const fd = await open(join(signerDir(user.name), "run.0"), "r");
    try {
      expect((await fd.stat()).mode & 0o777).toBe(0o600);
    } finally {
      await fd.close();
    }
  });
});
