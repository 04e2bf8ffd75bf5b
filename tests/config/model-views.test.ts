import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config/load.js";
import { backendUsersOf, findUserMapping, roleOf, sshAccessOf, userMappings } from "../../lib/config/mappings.js";
import { renderConfig } from "../../lib/config/render.js";
import { tokenAccessGroups } from "../../lib/config/token-access.js";
import { summarizeConfig } from "../../lib/config/tool.js";
import { KEYS } from "./keys.js";

const full = parseConfig(readFileSync(new URL("../../config/example-full.toml", import.meta.url), "utf8"), "example-full.toml");
const softhsm = parseConfig(readFileSync(new URL("../../config/example-softhsm.toml", import.meta.url), "utf8"), "example-softhsm.toml");

describe("user mappings", () => {
  it("lists every Unix user in file order with its role and backend users", () => {
    expect(
      userMappings(full).map((m) => [m.mapping.systemUser, roleOf(m), backendUsersOf(m).join(" ")]),
    ).toEqual([
      ["share-holder1", "share_holder", ""],
      ["share-holder2", "share_holder", ""],
      ["share-holder3", "share_holder", ""],
      ["wireguard-downloader", "wire_guard_download", ""],
      ["nethsm-backup", "backup", "backup"],
      ["nethsm-metrics", "metrics", "metrics keymetrics ns1~keymetrics"],
      ["nethsm-hermetic-metrics", "hermetic_metrics", "hermeticmetrics hermetickeymetrics"],
      ["nethsm-signing1", "signing", "signing1"],
      ["nethsm-signing2", "signing", "signing2"],
      ["ns1-signing1", "signing", "ns1~signing1"],
      ["nethsm-backup-upload", "backup_upload", ""],
      ["nethsm-update-upload", "update_upload", ""],
      ["key-certificates", "key_certificates", "certs ns1~certs"],
      ["pkcs11-signing1", "signing", "pkcs11-token-label-signstar"],
    ]);
  });
  it("finds one user; hermetic users have no SSH access", () => {
    const m = findUserMapping(softhsm, "signstar-signer");
    expect(m?.backend).toBe("pkcs11");
    expect(sshAccessOf(m!)?.sshAuthorizedKey.keyType).toBe("ssh-ed25519");
    expect(sshAccessOf(findUserMapping(full, "nethsm-hermetic-metrics")!)).toBeUndefined();
    expect(findUserMapping(full, "root")).toBeUndefined();
  });
});

describe("renderConfig", () => {
  it("renders both examples so that they parse back to the same Config", () => {
    for (const c of [full, softhsm]) expect(parseConfig(renderConfig(c), "rendered")).toEqual(c);
  });
  it("escapes strings (quotes, backslashes, control characters, DEL, non-ASCII)", () => {
    const nasty = 'Ünïcode "quoted" \\ back\tslash \u0001 \u007f <x@example.org>';
    const text = readFileSync(new URL("../../config/example-softhsm.toml", import.meta.url), "utf8").replace(
      "Signstar Demo <signstar-signer@localhost>",
      nasty.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace("\t", "\\t").replace("\u0001", "\\u0001").replace("\u007f", "\\u007f"),
    );
    const c = parseConfig(text, "x");
    const signing = c.pkcs11?.mappings[1];
    expect(signing?.kind === "signing" && signing.keySetup.openpgp.userIds[0]).toBe(nasty);
    expect(parseConfig(renderConfig(c), "rendered")).toEqual(c);
  });
});

describe("a [pkcs11] metrics mapping (hosts without a NetHSM)", () => {
  const text =
    readFileSync(new URL("../../config/example-softhsm.toml", import.meta.url), "utf8") +
    `\n[[pkcs11.mappings]]\n[pkcs11.mappings.metrics]\nsystem_user = "signstar-metrics"\nssh_authorized_key = "${KEYS.k12}"\n`;
  const config = parseConfig(text, "softhsm-metrics.toml");
  it("is a metrics user without backend credentials that reaches every configured token", () => {
    const m = findUserMapping(config, "signstar-metrics")!;
    expect([m.backend, roleOf(m), backendUsersOf(m)]).toEqual(["pkcs11", "metrics", []]);
    expect(sshAccessOf(m)?.sshAuthorizedKey.blob).toBe(KEYS.k12.split(" ")[1]);
    expect(tokenAccessGroups(config, m)).toEqual(tokenAccessGroups(config, findUserMapping(config, "signstar-signer")!));
    expect(summarizeConfig(config, "f", "native")).toContain("metrics:\n  signstar-metrics → host figures and PKCS#11 token facts (no backend credentials)\n");
  });
  it("renders so that it parses back to the same Config", () => {
    expect(renderConfig(config)).toContain("[pkcs11.mappings.metrics]\n");
    expect(parseConfig(renderConfig(config), "rendered")).toEqual(config);
  });
  it("takes only system_user and ssh_authorized_key", () => {
    expect(() => parseConfig(text.replace('system_user = "signstar-metrics"', 'system_user = "signstar-metrics"\nbackend_users = ["m"]'), "x")).toThrow(
      /pkcs11\.mappings\[2\]\.metrics\.backend_users/,
    );
    expect(() => parseConfig(text.replace(`ssh_authorized_key = "${KEYS.k12}"`, `ssh_authorized_key = "${KEYS.k11}"`), "x")).toThrow(/duplicate SSH public key/);
  });
});
