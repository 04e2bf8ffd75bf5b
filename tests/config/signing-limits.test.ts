/**
 * `[system] signing_concurrency` / `signing_queue`: absent means the defaults (4, 16); parsed within their bounds,
 * rendered back, summarised; out of range or of the wrong type refused with the location; Signstar's V4 YAML has
 * no such keys and refuses them as native extensions.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAnyConfig, parseConfig } from "../../lib/config/load.js";
import { ConfigError, formatProblem } from "../../lib/config/problems.js";
import { renderConfig } from "../../lib/config/render.js";
import { summarizeConfig } from "../../lib/config/tool.js";
import { REPO_ROOT } from "../support/repo.js";

const example = readFileSync(join(REPO_ROOT, "config", "example-softhsm.toml"), "utf8");
const withKeys = (lines: string): string =>
  example.replace('non_admin_secret_handling = "plaintext"\n', `non_admin_secret_handling = "plaintext"\n${lines}\n`);

function problemsOf(text: string): string[] {
  try {
    parseAnyConfig(text, "config");
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  return [];
}

describe("signing limits", () => {
  it("are absent unless configured (the defaults apply), and round-trip when set", () => {
    const plain = parseConfig(example, "example");
    expect(plain.system.signingConcurrency).toBeUndefined();
    expect(plain.system.signingQueue).toBeUndefined();
    expect(summarizeConfig(plain, "example", "native")).toContain("signing limits per user: 4 at once, 16 waiting");
    const config = parseConfig(withKeys("signing_concurrency = 2\nsigning_queue = 0"), "example");
    expect(config.system).toMatchObject({ signingConcurrency: 2, signingQueue: 0 });
    expect(renderConfig(config)).toContain("signing_concurrency = 2\nsigning_queue = 0\n");
    expect(parseConfig(renderConfig(config), "rendered")).toEqual(config);
    expect(summarizeConfig(config, "example", "native")).toContain("signing limits per user: 2 at once, 0 waiting");
  });

  it("refuses values outside their bounds or of another type, naming the key", () => {
    expect(problemsOf(withKeys("signing_concurrency = 0"))).toEqual(["system.signing_concurrency: 0 is out of range (1 to 1024)"]);
    expect(problemsOf(withKeys("signing_concurrency = 1025"))).toEqual(["system.signing_concurrency: 1025 is out of range (1 to 1024)"]);
    expect(problemsOf(withKeys("signing_queue = -1"))).toEqual(["system.signing_queue: -1 is out of range (0 to 1024)"]);
    expect(problemsOf(withKeys('signing_queue = "16"'))).toEqual(["system.signing_queue: expected an integer, found a string"]);
    expect(problemsOf(withKeys("signing_concurrency = 1.5"))).toHaveLength(1);
  });

  it("are not part of Signstar's V4 YAML: refused there as an extension of the native layout", () => {
    const yaml = "system:\n  iteration: 1\n  admin_secret_handling: plaintext\n  non_admin_secret_handling: plaintext\n  signing_concurrency: 2\n";
    const problems = problemsOf(yaml);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/system\.signing_concurrency: the key signing_concurrency is an extension of this project's native TOML layout/);
  });
});
