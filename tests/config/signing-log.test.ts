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
    expect(parseConfig(shipped, "shipped").system.signingLog).toEqual({ origin: "localhost/signstar-log", key: { kind: "file" } });
    const config = parseConfig(withLog('{ origin = "signer.example.org/signstar-log" }'), "example");
    expect(config.system.signingLog).toEqual({ origin: "signer.example.org/signstar-log", key: { kind: "file" } });
    expect(parseConfig(renderConfig(config), "rendered")).toEqual(config);
    expect(summarizeConfig(config, "example", "native")).toContain("signing log: origin signer.example.org/signstar-log; key: a root-only file\n");
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
    expect(config.system.signingLog).toEqual({ origin: "o/log", key: { kind: "pkcs11", token: "signstar-logkey" } });
    expect(summarizeConfig(config, "example", "native")).toContain('signing log: origin o/log; key: the key label:signstar-log on token "signstar-logkey"\n');
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

describe("signing_log.nethsm_user and nethsm_key", () => {
  const full = readFileSync(join(REPO_ROOT, "config", "example-full.toml"), "utf8");
  const onNetHsm = (fields: string): string =>
    full.replace('non_admin_secret_handling = "systemd-creds"\n', `non_admin_secret_handling = "systemd-creds"\nsigning_log = { origin = "o/log"${fields} }\n`);
  const good = onNetHsm(', nethsm_user = "logwriter", nethsm_key = "signinglog"');

  it("round-trips, is summarised, and lets the writer's unit reach the NetHSM without a key file", () => {
    const config = parseConfig(good, "full");
    expect(config.system.signingLog).toEqual({ origin: "o/log", key: { kind: "nethsm", user: "logwriter", keyId: "signinglog" } });
    expect(parseConfig(renderConfig(config), "rendered")).toEqual(config);
    expect(summarizeConfig(config, "full", "native")).toContain("signing log: origin o/log; key: the NetHSM key signinglog\n");
    const plan = computeHostPlan(config);
    expect(plan.logWriter?.groups).toEqual([]);
    const dropIn = plan.files.find((f) => f.path === hostLayout("").logWriterServiceDropIn)?.content;
    expect(dropIn).toMatch(/^\[Service\]\nLoadCredential=\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n$/m);
  });

  it("refuses a user, key or tag the configuration already uses, a namespaced user, half a place, two places, no [nethsm]", () => {
    expect(problemsOf(onNetHsm(', nethsm_user = "signing1", nethsm_key = "signinglog"'), "full")).toEqual([
      'system.signing_log.nethsm_user: duplicate backend user ID "signing1" (also used at nethsm.mappings[5].signing.backend_user)',
    ]);
    expect(problemsOf(onNetHsm(', nethsm_user = "logwriter", nethsm_key = "signing2"'), "full")).toEqual([
      'system.signing_log.nethsm_key: duplicate system-wide key ID "signing2" (also used at nethsm.mappings[6].signing.signing_key_id)',
      'system.signing_log.nethsm_key: duplicate system-wide tag "signing2" (the log key is tagged with its own ID) (also used at nethsm.mappings[6].signing.tag)',
    ]);
    expect(problemsOf(onNetHsm(', nethsm_user = "ns1~logwriter", nethsm_key = "signinglog"'), "full")).toEqual([
      'system.signing_log.nethsm_user: the NetHSM user ID "ns1~logwriter" has a namespace, but this user must be system-wide',
    ]);
    expect(problemsOf(onNetHsm(', nethsm_key = "signinglog"'), "full")).toEqual(["system.signing_log.nethsm_user: is required with nethsm_key"]);
    expect(problemsOf(onNetHsm(', nethsm_user = "logwriter"'), "full")).toEqual(["system.signing_log.nethsm_key: is required with nethsm_user"]);
    expect(problemsOf(onNetHsm(', pkcs11_token = "x", nethsm_user = "logwriter", nethsm_key = "signinglog"'), "full")).toEqual([
      "system.signing_log.pkcs11_token: and nethsm_user/nethsm_key both name a place for the log key; give one",
    ]);
    expect(problemsOf(withLog('{ origin = "o/log", nethsm_user = "logwriter", nethsm_key = "signinglog" }'), "example")).toEqual([
      'system.signing_log.nethsm_key: names NetHSM key "signinglog", but there is no [nethsm] section',
    ]);
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
