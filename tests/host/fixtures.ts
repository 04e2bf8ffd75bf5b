/** Config values for host tests, built with the config module's own constructors. */
import type { Config, KeySetup, NetHsmMapping, Pkcs11Mapping, SystemMapping } from "../../lib/config/model.js";
import { authorizedKey, httpsUrl, keyId, netHsmUserId, systemUserId, tag } from "../../lib/config/primitives.js";

export const ED25519_SETUP: KeySetup = {
  keyType: "Curve25519",
  keyMechanisms: ["EdDsaSignature"],
  signatureType: "EdDsa",
  openpgp: { userIds: ["Signstar Test <test@example.org>"], version: 4 },
};

/** Users by role; every value is a system user name and the public key line to authorize for it. */
export interface HostUsers {
  readonly signer?: { readonly name: string; readonly key: string };
  readonly pkcs11Signer?: { readonly name: string; readonly key: string };
  readonly backup?: { readonly name: string; readonly key: string };
  readonly metrics?: { readonly name: string; readonly key: string };
  readonly hermetic?: { readonly name: string };
  readonly shareHolder?: { readonly name: string; readonly key: string };
  readonly wireguard?: { readonly name: string; readonly key: string };
}

function access(u: { name: string; key: string }): { systemUser: ReturnType<typeof systemUserId>; sshAuthorizedKey: ReturnType<typeof authorizedKey> } {
  return { systemUser: systemUserId(u.name), sshAuthorizedKey: authorizedKey(u.key) };
}

export function hostConfig(users: HostUsers): Config {
  const system: SystemMapping[] = [];
  if (users.shareHolder) system.push({ kind: "share_holder", ...access(users.shareHolder) });
  if (users.wireguard) system.push({ kind: "wire_guard_download", ...access(users.wireguard) });
  const nethsm: NetHsmMapping[] = [
    { kind: "admin", backendUser: netHsmUserId("admin") },
    { kind: "admin", backendUser: netHsmUserId("ns1~admin") },
  ];
  const metricsUsers = { metricsUser: netHsmUserId("metrics1"), operatorUsers: [netHsmUserId("ns1~operator1")] };
  if (users.backup) nethsm.push({ kind: "backup", backendUser: netHsmUserId("backup1"), ...access(users.backup) });
  if (users.metrics) nethsm.push({ kind: "metrics", backendUsers: metricsUsers, ...access(users.metrics) });
  if (users.hermetic) nethsm.push({ kind: "hermetic_metrics", systemUser: systemUserId(users.hermetic.name), backendUsers: metricsUsers });
  if (users.signer) {
    nethsm.push({
      kind: "signing",
      backendUser: netHsmUserId("ns1~operator1"),
      signingKeyId: keyId("signing1"),
      keySetup: ED25519_SETUP,
      tag: tag("signing1"),
      ...access(users.signer),
    });
  }
  const pkcs11: Pkcs11Mapping[] = [{ kind: "admin", token: { label: "signstar" } }];
  if (users.pkcs11Signer) {
    pkcs11.push({ kind: "signing", token: { label: "signstar" }, key: { label: "signing" }, keySetup: ED25519_SETUP, ...access(users.pkcs11Signer) });
  }
  return {
    system: { iteration: 1, adminSecretHandling: { kind: "plaintext" }, nonAdminSecretHandling: "plaintext", mappings: system },
    nethsm: { connections: [{ url: httpsUrl("https://nethsm.example.org/api/v1/"), tlsSecurity: { kind: "Unsafe" } }], mappings: nethsm },
    pkcs11: { module: "/usr/lib/softhsm/libsofthsm2.so", mappings: pkcs11 },
  };
}

export const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoaqAzWpBTvxkRMWs2npS0PoVH5YCQliEZHg9FS96BE user1@example.org";
export const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJs1DgVpILrcRmERuBSNRV6OV3kdKNqBsSTcemaRLiYR user2@example.org";
export const KEY_C = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINICDM8zC6J4Pv/h3WEdsHiSSO84EACe8Q1612NbRcKU user3@example.org";
export const KEY_D = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPPDz7ELX0W/iRki0XjsnJcJO9Vlbxc+PMex+paKgsFq user4@example.org";
export const KEY_E = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFeeESmtRucRKDxDQM3wgyLvuDxPBSpg9TuAECKziMWg user5@example.org";
export const KEY_F = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP3g2iXbrVITCIWfmMdTL5d/FVvTUet62JZq1J7Hx0+5 user6@example.org";

/** One user per role with fixed names. */
export const ALL_ROLES: HostUsers = {
  shareHolder: { name: "share1", key: KEY_A },
  wireguard: { name: "wg1", key: KEY_B },
  backup: { name: "backup1", key: KEY_C },
  metrics: { name: "metrics1", key: `from="10.0.0.0/8",no-pty ${KEY_D}` },
  hermetic: { name: "localmetrics1" },
  signer: { name: "signer1", key: KEY_E },
  pkcs11Signer: { name: "pksigner1", key: KEY_F },
};
