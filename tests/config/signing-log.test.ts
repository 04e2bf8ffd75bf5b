/**
 * The `signing_log` option of [system]: parsed, rendered back, summarised; a bad origin or field is refused. The
 * `log_reader` mapping: parsed, rendered, summarised, planned with its ForceCommand; refused without signing_log and
 * in Signstar's YAML (which has no signing log).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config/load.js";
import { ConfigError } from "../../lib/config/problems.js";
import { renderConfig } from "../../lib/config/render.js";
import { parseAnyConfig } from "../../lib/config/load.js";
import { formatProblem } from "../../lib/config/problems.js";
import { summarizeConfig } from "../../lib/config/tool.js";
import { computeHostPlan } from "../../lib/host/plan.js";
import { KEYS } from "./keys.js";
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

const reader = `\n[[system.mappings]]\nlog_reader = { system_user = "log-reader", ssh_authorized_key = "${KEYS.k1}" }\n`;
const problemsOf = (text: string, origin: string): string[] => {
  try {
    parseAnyConfig(text, origin);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
};

describe("log_reader", () => {
  const text = withLog('{ origin = "signer.example.org/signstar-log" }').replace("\n[pkcs11]", `${reader}\n[pkcs11]`);

  it("round-trips, is summarised, and gets signstar-download-log as its ForceCommand with MaxSessions", () => {
    const config = parseConfig(text, "example");
    expect(config.system.mappings).toContainEqual(expect.objectContaining({ kind: "log_reader", systemUser: "log-reader" }));
    expect(parseConfig(renderConfig(config), "rendered")).toEqual(config);
    expect(summarizeConfig(config, "example", "native")).toMatch(/\nlog_reader:\n {2}log-reader\n/);
    const plan = computeHostPlan(config);
    const user = plan.users.find((u) => u.name === "log-reader")!;
    expect(user.forceCommand).toBe("/usr/bin/signstar-download-log");
    expect(user.groups).toEqual([]);
    expect(user.stateDirs).toEqual({ secrets: false, shares: false, uploads: false, counters: false, signer: false, shareUpload: false });
    const dropIn = plan.files.find((f) => f.kind === "sshd_dropin" && f.user === "log-reader")!.content;
    expect(dropIn).toContain("ForceCommand /usr/bin/signstar-download-log\n");
    expect(dropIn).toContain("MaxSessions 16\n");
  });

  it("needs signing_log", () => {
    expect(problemsOf(example.replace("\n[pkcs11]", `${reader}\n[pkcs11]`), "example")).toEqual([
      'system.mappings[0].log_reader: serves the signing log, but [system] has no signing_log (add signing_log = { origin = "…" })',
    ]);
  });

  it("is not part of Signstar's YAML", () => {
    const yaml = `system:\n  iteration: 1\n  admin_secret_handling: plaintext\n  non_admin_secret_handling: plaintext\n  mappings:\n    - log_reader: {system_user: r, ssh_authorized_key: ${KEYS.k1}}\n`;
    expect(problemsOf(yaml, "config.yaml")[0]).toMatch(/^system\.mappings\[0\]\.log_reader: the mapping kind log_reader is an extension of this project's native TOML layout/);
  });
});
