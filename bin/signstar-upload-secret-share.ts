#!/usr/bin/env node
// A shareholder uploads its share: one line on stdin; the verdict ("2 of 3 shares present, wiped at …") on
// stdout, or one line on stderr naming the failed check. Also reachable as `ssh holder@host upload`.
// --root is for tests and image builds. Exit codes: README.md "Exit codes".
import { runTool, toolContext } from "../lib/tools/force-command.js";
import { uploadSecretShare } from "../lib/tools/upload-secret-share.js";

const program = "signstar-upload-secret-share";
const options = { config: { type: "string" }, root: { type: "string" } } as const;

runTool(program, { options, synopsis: `${program} [--config FILE] [--root DIR] < share.txt` }, async (args) =>
  uploadSecretShare({ ...toolContext(program, args.config), root: args.root ?? "/", now: () => new Date(), stdin: process.stdin }),
);
