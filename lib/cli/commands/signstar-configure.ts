import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { CONFIG_OPTION, ENV_CONFIG, ENV_PKCS11, FILES_CONFIG } from "./common.js";

const live = hostLayout();

export const command = {
  name: "signstar-configure",
  kind: "admin",
  section: 8,
  summary: "provision and reconcile the HSM backends with the configuration (root)",
  description:
    "Brings every backend in line with the configuration: provisions or unlocks the NetHSM, creates administrators, namespaces, users " +
    "and keys with their OpenPGP certificates, initializes PKCS#11 tokens; keeps the admin secret (a root-only file, or Shamir shares " +
    "the shareholders download); rotates every non-admin secret crash-safely; takes a NetHSM backup. Objects no longer in the " +
    "configuration are deleted only when its iteration increased. --dry-run prints the plan only; --wipe-expired-shares is what " +
    "signstar-share-wipe.service runs every minute.",
  synopsis: ["[--config FILE] [--root DIR] [--dry-run | --wipe-expired-shares]"],
  options: [
    CONFIG_OPTION,
    { name: "root", type: "string", value: "DIR", description: "keep all state below DIR (tests, image builds)" },
    { name: "dry-run", type: "boolean", default: false, description: "print what would be done (plan: lines), change nothing", conflicts: ["wipe-expired-shares"] },
    { name: "wipe-expired-shares", type: "boolean", default: false, description: "only wipe expired uploaded shares (the timer's job)", conflicts: ["dry-run"] },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "Config", "Denied", "Secret", "Backend"],
  files: [
    ...FILES_CONFIG,
    { path: live.configureState, description: "the last applied configuration iteration" },
    { path: `${live.credsDir}/admin-credentials.{toml,creds}`, description: "the admin credentials (plaintext or systemd-creds handling)" },
    { path: live.shareStoreDir, description: "the share set and the shares not yet handed to their holders (root only)" },
    { path: live.backupsDir, description: "NetHSM backups taken after a successful run" },
  ],
  environment: [ENV_CONFIG, ...ENV_PKCS11],
  examples: [
    { command: "signstar-configure --dry-run", description: "show the plan" },
    { command: "signstar-configure", description: "apply the configuration" },
  ],
  seeAlso: ["signstar-configure-build(8)", "signstar-config(1)", "signstar-download-secret-share(1)"],
} as const satisfies CommandSpec;
