/**
 * Issue 17.7: no message a tool prints on stderr carries a control character, whatever the client sends.
 * 20,000 mutated signing requests go through the in-process tool function (downloadSignature), a handful through
 * the compiled executable as an unprivileged user; every message (the one stderr line and the audit entry) is
 * checked for C0/C1 controls, DEL, U+2028/2029 and bidirectional overrides.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Caller } from "../../lib/caller/caller.js";
import { describeError, oneLine } from "../../lib/errors.js";
import { shareCommandOf } from "../../lib/tools/download-secret-share.js";
import { downloadSignature } from "../../lib/tools/download-signature.js";
import { vectorText } from "../signing/support.js";
import { mulberry32 } from "../support/random.js";
import { REPO_ROOT } from "../support/repo.js";
import { memorySink } from "../support/syslog.js";

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const NASTY = ["\u001b[2J", "\u0007", "\u0000", "\u000b", "\u000c", "\r", "\n", "\t", "\u007f", "\u0085", "\u009b", "\u2028", "\u2029", "\u202e", "\u2066", "\\u001b", "\\u0085", "\\u2028", '"', "{", "}", "[", "]", ":", ",", "1.0", "1e9", "-", "é", "\\", "null", "x"];
const config = { path: join(REPO_ROOT, "config", "example-full.toml"), env: {} };
const caller: Caller = { uid: 54321, gid: 54321, name: "alice" };

function mutate(base: string, rnd: () => number): string {
  let s = base;
  const ops = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rnd() * (s.length + 1));
    const piece = NASTY[Math.floor(rnd() * NASTY.length)]!;
    switch (Math.floor(rnd() * 4)) {
      case 0:
        s = s.slice(0, at) + piece + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + piece + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 8));
        break;
      default:
        // Inside a string value the client controls: the file name.
        s = s.replace(/"file-name":"[^"]*"/, `"file-name":"${piece}${piece}"`);
    }
  }
  return s;
}

describe("no control character in any message (issue 17.7)", () => {
  it("sanitises C0, C1, DEL, line separators and bidi overrides, and keeps one line", () => {
    expect(oneLine("a\u001b[2Jb\u0007c\u0085d\u2028e\u202ef\r\ng\tx")).toBe("a\\x1b[2Jb\\x07c d e\\u202ef g x");
    expect(shareCommandOf.bind(null, "\u001b]0;owned\u0007")).toThrow(/^unknown command "\\u001b\]0;owned\\u0007"/);
  });

  it("20,000 mutated signing requests through downloadSignature", async () => {
    const base = JSON.stringify(JSON.parse(vectorText("sample-request.json")));
    const rnd = mulberry32(17_7);
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const request = mutate(base, rnd);
      const log = memorySink();
      let message: string;
      try {
        await downloadSignature({ stdin: Readable.from([Buffer.from(request)]), caller, config, now: () => new Date(), log });
        message = "";
      } catch (e) {
        message = describeError(e).message;
        refused++;
      }
      if (CONTROL.test(message)) expect.fail(`message with a control character for ${JSON.stringify(request)}: ${JSON.stringify(message)}`);
      for (const entry of log.entries) {
        if (CONTROL.test(entry.message)) expect.fail(`audit entry with a control character for ${JSON.stringify(request)}: ${JSON.stringify(entry.message)}`);
      }
    }
    // alice has no signing mapping: every request is refused, the well-formed ones after parsing.
    expect(refused).toBe(20_000);
  }, 300_000);

  it("a handful through the compiled executable, as an unprivileged user", () => {
    const bin = join(REPO_ROOT, "dist/bin/signstar-download-signature.js");
    const inputs = [
      '{"version":"1.0.0","required":\u001b[2J}',
      '{"version":"1.0.0\u0007\u2028","required":{}}',
      '{"version":"1.0.0","\u001b]0;x\u0007":1}',
      '{"version":"1.0.0","required":{"input":{"type":"\u0085\u202e"}}}',
      "\u001bc\u0000",
    ];
    for (const input of inputs) {
      const r = spawnSync(process.execPath, [bin], {
        input,
        encoding: "utf8",
        uid: 65534,
        gid: 65534,
        env: { PATH: process.env.PATH ?? "", SIGNSTAR_CONFIG: config.path },
        timeout: 30_000,
      });
      expect(r.status).toBe(3);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^signstar-download-signature: request: [^\n]*\n$/);
      expect(CONTROL.test(r.stderr.slice(0, -1))).toBe(false);
    }
  });
});
