/**
 * The logic of `signstar-config`: `check` (summary of mappings per role, or every problem) and `convert`
 * (native TOML for a Signstar-layout file). Returns what to print and the exit code; throws only SignstarErrors
 * without problem lists (missing file, unreadable file) and internal errors.
 */
import { ExitCode } from "../errors.js";
import { logKeyName, pkcs11BackendUser, type Config, type Role, type TokenSelector, type UserMapping } from "./model.js";
import { locateConfig, type ConfigLocation, type Layout } from "./load.js";
import { roleOf, userMappings } from "./mappings.js";
import { ConfigError, formatProblem } from "./problems.js";
import { SIGNING_LIMITS } from "./primitives.js";
import { renderConfig } from "./render.js";

export interface ToolOutput {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

const ROLE_ORDER: readonly Role[] = [
  "signing",
  "backup",
  "metrics",
  "hermetic_metrics",
  "share_holder",
  "wire_guard_download",
  "backup_upload",
  "update_upload",
  "key_certificates",
  "log_reader",
];

function tokenName(t: TokenSelector): string {
  return "label" in t ? `token label "${t.label}"` : `token serial "${t.serial}"`;
}

function describeMapping(u: UserMapping): string {
  const m = u.mapping;
  const who = m.systemUser;
  if (u.backend === "pkcs11") {
    const pm = u.mapping;
    if (pm.kind === "key_certificates") return `${who} (PKCS#11 certificates are public token objects)`;
    if (pm.kind === "metrics") return `${who} → host figures and PKCS#11 token facts (no backend credentials)`;
    const key = "label" in pm.key ? `key label "${pm.key.label}"` : `key id ${pm.key.id}`;
    return `${who} → pkcs11 ${tokenName(pm.token)}, ${key} (${pm.keySetup.keyType}; secret ${pkcs11BackendUser(pm.token)})`;
  }
  if (u.backend === "system") return who;
  const nm = u.mapping;
  switch (nm.kind) {
    case "signing":
      return `${who} → nethsm user ${nm.backendUser}, key ${nm.signingKeyId} (${nm.keySetup.keyType}, tag ${nm.tag})`;
    case "backup":
      return `${who} → nethsm user ${nm.backendUser}`;
    case "backup_upload":
    case "update_upload":
      return who;
    case "key_certificates":
      return `${who} → nethsm operator users ${nm.backendUsers.join(", ") || "none"}`;
    case "metrics":
    case "hermetic_metrics": {
      const ops = nm.backendUsers.operatorUsers;
      return `${who} → nethsm metrics user ${nm.backendUsers.metricsUser}${ops.length > 0 ? `, operator users ${ops.join(", ")}` : ""}`;
    }
  }
}

/** Human summary of a valid configuration: sections, then users per role. */
const LAYOUT_NAMES: Readonly<Record<Layout, string>> = {
  native: "native layout",
  signstar: "Signstar layout, converted",
  "signstar-yaml": "Signstar V4 YAML, converted",
};

export function summarizeConfig(config: Config, origin: string, layout: Layout): string {
  const lines: string[] = [`${origin}: valid (${LAYOUT_NAMES[layout]})`];
  const s = config.system;
  const ash = s.adminSecretHandling;
  const admin = ash.kind === "shamirs-secret-sharing" ? `shamirs-secret-sharing (${ash.numberOfShares} shares, threshold ${ash.threshold})` : ash.kind;
  lines.push(`system: iteration ${s.iteration}; admin secrets ${admin}; non-admin secrets ${s.nonAdminSecretHandling}`);
  const log = s.signingLog;
  lines.push(log === undefined ? "signing log: off" : `signing log: origin ${log.origin}; key: ${log.key.kind === "file" ? "a root-only file" : `the ${logKeyName(log.key)}`}`);
  lines.push(`audit log: ${s.auditLog ?? "required"}`);
  lines.push(
    `signing limits per user: ${s.signingConcurrency ?? SIGNING_LIMITS.concurrency.default} at once, ${s.signingQueue ?? SIGNING_LIMITS.queue.default} waiting`,
  );
  if (config.nethsm !== undefined) {
    const conns = config.nethsm.connections.map((c) => `${c.url} (${c.tlsSecurity.kind})`);
    lines.push(`nethsm: connections ${conns.join(", ")}`);
    const admins = config.nethsm.mappings.flatMap((m) => (m.kind === "admin" ? [m.backendUser] : []));
    lines.push(`nethsm administrators: ${admins.join(", ")}`);
  }
  if (config.pkcs11 !== undefined) {
    const tokens = config.pkcs11.mappings.flatMap((m) => (m.kind === "admin" ? [tokenName(m.token)] : []));
    lines.push(`pkcs11: module ${config.pkcs11.module}; administered tokens: ${tokens.join(", ") || "none"}`);
  }
  const users = userMappings(config);
  for (const role of ROLE_ORDER) {
    const inRole = users.filter((u) => roleOf(u) === role);
    if (inRole.length === 0) continue;
    lines.push(`${role}:`);
    for (const u of inRole) lines.push(`  ${describeMapping(u)}`);
  }
  return `${lines.join("\n")}\n`;
}

function problemsOutput(e: ConfigError, origin: string): ToolOutput {
  const n = e.problems.length;
  const header = `${origin}: ${n === 1 ? "1 problem" : `${n} problems`}`;
  return { stdout: "", stderr: `${header}\n${e.problems.map((p) => `${formatProblem(p)}\n`).join("")}`, exitCode: ExitCode.Config };
}

export type Command = "check" | "convert";

/** Runs `check` or `convert` on the configuration found via `location`. */
export async function signstarConfigCommand(command: Command, location: ConfigLocation): Promise<ToolOutput> {
  let located;
  try {
    located = await locateConfig({ ...location, trusted: false });
  } catch (e) {
    if (e instanceof ConfigError && e.problems.length > 0) return problemsOutput(e, e.origin ?? "configuration");
    throw e;
  }
  const { parsed, path: file } = located;
  const twinNote = located.note === undefined ? "" : `${located.note}\n`;
  const nativeProblems = parsed.layout === "native" ? [] : parsed.conversion.problems;
  if (command === "check") {
    if (nativeProblems.length > 0) return problemsOutput(ConfigError.fromProblems(file, nativeProblems), file);
    return { stdout: summarizeConfig(parsed.config, file, parsed.layout), stderr: twinNote, exitCode: ExitCode.Ok };
  }
  const warnings = nativeProblems.map((p) => `warning: ${formatProblem(p)}\n`).join("");
  const note = nativeProblems.length > 0 ? "warning: the converted configuration needs the changes above before use\n" : "";
  return { stdout: renderConfig(parsed.config), stderr: twinNote + warnings + note, exitCode: ExitCode.Ok };
}
