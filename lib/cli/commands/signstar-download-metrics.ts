import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { ENV_CONFIG, ENV_LOG_SOCKET, ENV_PKCS11, ENV_ROOT, FILES_CONFIG, FILE_SECRETS, TOOL_CONFIG_OPTION } from "./common.js";

export const command = {
  name: "signstar-download-metrics",
  kind: "server",
  summary: "print NetHSM, PKCS#11 and host metrics in the Prometheus text format (ForceCommand of metrics users)",
  description:
    "Prints the NetHSM's device metrics (with the calling user's Metrics-role user), per-key figures (with its operator users), what " +
    "each configured PKCS#11 token tells a public session, and the host's signature counters per signing user and key. A source that " +
    "fails is exported as signstar_source_up 0 and logged, so one broken source does not hide the rest. signstar-admin " +
    "write-hermetic-metrics runs it as each hermetic metrics user. SSH_ORIGINAL_COMMAND is ignored.",
  synopsis: ["[--config FILE]"],
  options: [TOOL_CONFIG_OPTION],
  exitCodes: ["Ok", "Internal", "Usage", "Config", "Denied", "Remote", "Audit"],
  files: [...FILES_CONFIG, FILE_SECRETS, { path: `${hostLayout().signatureCountersDir}/<user>/counters.json`, description: "the signing users' counters" }],
  environment: [ENV_CONFIG, ENV_LOG_SOCKET, ENV_ROOT, ...ENV_PKCS11],
  examples: [{ command: "ssh metrics@signer.example | promtool check metrics", description: "scrape once and check the exposition" }],
  seeAlso: ["signstar-admin(8)", "signstar-download-signature(1)"],
  audit: { early: false },
} as const satisfies CommandSpec;
