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
import { hostLayout } from "../../lib/layout/host-layout.js";
import { tokenGroupName } from "../../lib/config/token-access.js";
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

describe("signing_log.pkcs11_token", () => {
  const logAdmin = '[pkcs11]\nmodule = "/usr/lib/softhsm/libsofthsm2.so"\n\n[[pkcs11.mappings]]\nadmin = { token = { label = "signstar-logkey" } }\n';
  const withToken = withLog('{ origin = "o/log", pkcs11_token = "signstar-logkey" }').replace('[pkcs11]\nmodule = "/usr/lib/softhsm/libsofthsm2.so"\n', logAdmin);

  it("round-trips and plans the writer into the token's group", () => {
    const config = parseConfig(withToken, "example");
    expect(config.system.signingLog).toEqual({ origin: "o/log", pkcs11Token: "signstar-logkey" });
    expect(parseConfig(renderConfig(config), "rendered")).toEqual(config);
    const plan = computeHostPlan(config);
    expect(plan.logWriter?.groups).toEqual(["softhsm", tokenGroupName({ label: "signstar-logkey" })].sort());
    expect(plan.groups).toContain(tokenGroupName({ label: "signstar-logkey" }));
  });

  it("tells the writer's unit not to load a key file (the key is on the token); a key-file log keeps the credential", () => {
    const dropIn = (text: string): string | undefined =>
      computeHostPlan(parseConfig(text, "example")).files.find((f) => f.path === hostLayout("").logWriterServiceDropIn)?.content;
    expect(dropIn(withToken)).toMatch(/^\[Service\]\nLoadCredential=\n$/m);
    const keyFile = dropIn(shipped);
    expect(keyFile).toContain("[Service]");
    expect(keyFile).not.toContain("LoadCredential");
    expect(dropIn(example)).toBeUndefined();
  });

  it("refuses a token a signing mapping uses, a token without admin mapping, no [pkcs11], and a bad label", () => {
    expect(problemsOf(withLog('{ origin = "o/log", pkcs11_token = "signstar" }'), "example")).toEqual([
      'pkcs11.mappings[1].signing.token: token label "signstar" holds the signing log key (system.signing_log.pkcs11_token); no signing user may use it',
    ]);
    expect(problemsOf(withLog('{ origin = "o/log", pkcs11_token = "other" }'), "example")).toEqual([
      'system.signing_log.pkcs11_token: token label "other" has no admin mapping in [pkcs11] (add admin = { token = { label = "other" } } for its SO PIN)',
    ]);
    const noPkcs11 = withLog('{ origin = "o/log", pkcs11_token = "x" }').replace(/\n\[pkcs11\][\s\S]*$/, "\n");
    expect(problemsOf(noPkcs11, "example")).toContain('system.signing_log.pkcs11_token: names token label "x", but there is no [pkcs11] section');
    expect(() => parseConfig(withLog('{ origin = "o/log", pkcs11_token = "bad label" }'), "example")).toThrow(ConfigError);
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
