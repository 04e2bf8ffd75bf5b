/**
 * The client's log fetch over one SSH session (lib/client/verify-log.ts sshLogFetch), against a session that
 * records what it was asked: only paths of the one grammar become SSH commands, at most `parallel` in flight,
 * each path once, at most MAX_LOG_FETCHES per run; the log_reader's NotFound (exit 11) is "no such file", any
 * other failure is an error. The end-to-end check over real sshd is tests/integration/log-reader.test.ts.
 */
import { describe, expect, it } from "vitest";
import { RemoteError } from "../../lib/client/errors.js";
import type { RemoteCallResult, SshSession } from "../../lib/client/ssh-transport.js";
import { defaultCheckpointsDir, MAX_LOG_FETCHES, sshLogFetch } from "../../lib/client/verify-log.js";
import { ExitCode } from "../../lib/errors.js";
import { encodeTileIndex } from "../../lib/tlog/tiles.js";

function fakeSession(answer: (command: string) => RemoteCallResult | Error): { session: SshSession; commands: string[]; peak: () => number } {
  const commands: string[] = [];
  let inFlight = 0;
  let peak = 0;
  const session: SshSession = {
    async exec(_input, command = "") {
      commands.push(command);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      const a = answer(command);
      if (a instanceof Error) throw a;
      return a;
    },
    close() {},
  };
  return { session, commands, peak: () => peak };
}

const ok = (text: string): RemoteCallResult => ({ stdout: Buffer.from(text), stderr: "" });

describe("sshLogFetch", () => {
  it("fetches each path once, with the path as the command, at most `parallel` at once", async () => {
    const fake = fakeSession((c) => ok(`file ${c}`));
    const { fetch, count } = sshLogFetch(fake.session, 3);
    const paths = Array.from({ length: 20 }, (_, i) => `tile/0/${encodeTileIndex(i)}`);
    const got = await Promise.all([...paths, ...paths].map((p) => fetch(p)));
    expect(got.map((g) => Buffer.from(g!).toString())).toEqual([...paths, ...paths].map((p) => `file ${p}`));
    expect(fake.commands.sort()).toEqual([...paths].sort());
    expect(fake.peak()).toBe(3);
    expect(count()).toBe(20);
  });

  it("maps the reader's NotFound to undefined and rethrows every other failure", async () => {
    const fake = fakeSession((c) =>
      c === "tile/0/001" ? new RemoteError("x: exit 11", ExitCode.NotFound, "the log has no tile/0/001 (yet)") : c === "tile/0/002" ? new RemoteError("x: exit 3", ExitCode.BadInput, "bad") : ok("y"),
    );
    const { fetch } = sshLogFetch(fake.session, 2);
    await expect(fetch("tile/0/001")).resolves.toBeUndefined();
    await expect(fetch("tile/0/002")).rejects.toThrow(RemoteError);
  });

  it("sends nothing that is not a log path, and stops after MAX_LOG_FETCHES files", async () => {
    const fake = fakeSession(() => ok("z"));
    const { fetch } = sshLogFetch(fake.session, 8);
    for (const bad of ["../log.key", "/etc/passwd", "checkpoint; rm -rf /", "tile/0/000 x"]) await expect(fetch(bad)).rejects.toThrow(/not a log path/);
    expect(fake.commands).toEqual([]);
    for (let i = 0; i < MAX_LOG_FETCHES; i++) await fetch(`tile/entries/${encodeTileIndex(i)}`);
    await expect(fetch(`tile/entries/${encodeTileIndex(MAX_LOG_FETCHES)}`)).rejects.toThrow(/more than 256 log files/);
    expect(fake.commands.length).toBe(MAX_LOG_FETCHES);
  });

  it("keeps last-seen checkpoints under XDG_STATE_HOME, else ~/.local/state; neither set is a usage error", () => {
    expect(defaultCheckpointsDir({ XDG_STATE_HOME: "/x/state", HOME: "/home/a" })).toBe("/x/state/signstar/log-checkpoints");
    expect(defaultCheckpointsDir({ XDG_STATE_HOME: "relative", HOME: "/home/a" })).toBe("/home/a/.local/state/signstar/log-checkpoints");
    expect(() => defaultCheckpointsDir({})).toThrow(/--checkpoints-dir/);
  });
});
