import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/config/load.js";
import { backendUsersOf, findUserMapping, roleOf, sshAccessOf, userMappings } from "../../lib/config/mappings.js";
import { renderConfig } from "../../lib/config/render.js";

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
