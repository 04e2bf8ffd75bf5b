// A client that disconnects while a tool writes (EPIPE) gets one line on stderr and exit code 8, never Node's
// "Unhandled 'error' event" stack trace.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ExitCode } from "../../lib/errors.js";
import { REPO_ROOT } from "../support/repo.js";

function runWithClosedStdout(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, "dist/bin/signstar-config.js"), ...args], { stdio: ["pipe", "pipe", "pipe"] });
    child.stdout.destroy(); // the reader goes away before the tool writes anything
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
    child.stdin.end();
  });
}

describe("a vanished client", () => {
  it("prints one line (no stack trace) and exits with 8 when stdout is closed", async () => {
    const config = join(REPO_ROOT, "tests/config/fixtures/native/duplicate-ssh-key.ok.toml");
    const { code, stderr } = await runWithClosedStdout(["check", "--config", config]);
    expect(stderr).not.toMatch(/Unhandled 'error' event|\n\s+at /);
    expect(stderr).toBe("signstar-config: the client went away (EPIPE on stdout)\n");
    expect(code).toBe(ExitCode.Remote);
  });
});
