/** The `signing_log` option of [system]: parsed, rendered back, summarised; a bad origin or field is refused. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config/load.js";
import { ConfigError } from "../../lib/config/problems.js";
import { renderConfig } from "../../lib/config/render.js";
import { summarizeConfig } from "../../lib/config/tool.js";
import { REPO_ROOT } from "../support/repo.js";

// The shipped example enables the log; without its line the log is off.
const shipped = readFileSync(join(REPO_ROOT, "config", "example-softhsm.toml"), "utf8");
const example = shipped.replace(/^signing_log = .*\n/m, "");
const withLog = (value: string): string => example.replace('non_admin_secret_handling = "plaintext"\n', `non_admin_secret_handling = "plaintext"\nsigning_log = ${value}\n`);

describe("signing_log", () => {
  it("is off unless configured, and round-trips with its origin", () => {
    expect(parseConfig(example, "example").system.signingLog).toBeUndefined();
    expect(parseConfig(shipped, "shipped").system.signingLog).toEqual({ origin: "localhost/signstar-log" });
    const config = parseConfig(withLog('{ origin = "signer.example.org/signstar-log" }'), "example");
    expect(config.system.signingLog).toEqual({ origin: "signer.example.org/signstar-log" });
    expect(parseConfig(renderConfig(config), "rendered")).toEqual(config);
    expect(summarizeConfig(config, "example", "native")).toContain("signing log: origin signer.example.org/signstar-log");
  });

  it("refuses an origin a signed note cannot name, and unknown fields", () => {
    for (const bad of ['{ origin = "has space" }', '{ origin = "a+b" }', '{ origin = "" }', '{ origin = "x", extra = 1 }', '"x"']) {
      expect(() => parseConfig(withLog(bad), "example"), bad).toThrow(ConfigError);
    }
  });
});
