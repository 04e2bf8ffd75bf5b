/** Renders a Config as native-layout TOML (parses back to an equal Config). */
import type { AdminSecretHandling, Config, KeySetup, LogKeyPlace, MetricsBackendUsers, Pkcs11KeySelector, SshAccess, TlsSecurity, TokenSelector } from "./model.js";

/** TOML basic string (JSON escapes are valid TOML; DEL must be escaped too). */
export function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, "\\u007f");
}

function inline(entries: readonly (readonly [string, string])[]): string {
  return `{ ${entries.map(([k, v]) => `${k} = ${v}`).join(", ")} }`;
}

function strings(xs: readonly string[]): string {
  return `[${xs.map(tomlString).join(", ")}]`;
}

function adminSecretHandling(a: AdminSecretHandling): string {
  if (a.kind !== "shamirs-secret-sharing") return tomlString(a.kind);
  return inline([["shamirs-secret-sharing", inline([["number_of_shares", String(a.numberOfShares)], ["threshold", String(a.threshold)]])]]);
}

function tls(t: TlsSecurity): string {
  return t.kind === "Fingerprints" ? inline([["fingerprints", inline([["sha256", strings(t.sha256)]])]]) : tomlString(t.kind);
}

function token(t: TokenSelector): string {
  return "label" in t ? inline([["label", tomlString(t.label)]]) : inline([["serial", tomlString(t.serial)]]);
}

function keySelector(k: Pkcs11KeySelector): string {
  return "label" in k ? inline([["label", tomlString(k.label)]]) : inline([["id", tomlString(k.id)]]);
}

function metrics(m: MetricsBackendUsers): string {
  return inline([["metrics_user", tomlString(m.metricsUser)], ["operator_users", strings(m.operatorUsers)]]);
}

function access(a: SshAccess): string[] {
  return [`system_user = ${tomlString(a.systemUser)}`, `ssh_authorized_key = ${tomlString(a.sshAuthorizedKey.line)}`];
}

function keySetupLines(table: string, k: KeySetup): string[] {
  return [
    "",
    `[${table}]`,
    `key_type = ${tomlString(k.keyType)}`,
    `key_mechanisms = ${strings(k.keyMechanisms)}`,
    `signature_type = ${tomlString(k.signatureType)}`,
    ...(k.keyLength !== undefined ? [`key_length = ${k.keyLength}`] : []),
    `key_context = ${inline([["openpgp", inline([["user_ids", strings(k.openpgp.userIds)], ["version", tomlString(String(k.openpgp.version))]])]])}`,
  ];
}

/** The `signing_log` fields that say where the log key lives (none: the key file). */
function logKeyPlace(place: LogKeyPlace): (readonly [string, string])[] {
  switch (place.kind) {
    case "file":
      return [];
    case "pkcs11":
      return [["pkcs11_token", tomlString(place.token)]];
    case "nethsm":
      return [["nethsm_user", tomlString(place.user)], ["nethsm_key", tomlString(place.keyId)]];
  }
}

export function renderConfig(config: Config): string {
  const out: string[] = [];
  const s = config.system;
  out.push(
    "[system]",
    `iteration = ${s.iteration}`,
    `admin_secret_handling = ${adminSecretHandling(s.adminSecretHandling)}`,
    `non_admin_secret_handling = ${tomlString(s.nonAdminSecretHandling)}`,
    ...(s.signingLog !== undefined ? [`signing_log = ${inline([["origin", tomlString(s.signingLog.origin)], ...logKeyPlace(s.signingLog.key)])}`] : []),
    ...(s.auditLog !== undefined ? [`audit_log = ${tomlString(s.auditLog)}`] : []),
    ...(s.signingConcurrency !== undefined ? [`signing_concurrency = ${s.signingConcurrency}`] : []),
    ...(s.signingQueue !== undefined ? [`signing_queue = ${s.signingQueue}`] : []),
  );
  for (const m of s.mappings) {
    out.push("", "[[system.mappings]]", `[system.mappings.${m.kind}]`, ...access(m));
  }
  if (config.nethsm !== undefined) {
    out.push("", "[nethsm]", "connections = [");
    for (const c of config.nethsm.connections) out.push(`  ${inline([["url", tomlString(c.url)], ["tls_security", tls(c.tlsSecurity)]])},`);
    out.push("]");
    for (const m of config.nethsm.mappings) {
      out.push("", "[[nethsm.mappings]]");
      switch (m.kind) {
        case "admin":
          out.push(`admin = ${tomlString(m.backendUser)}`);
          break;
        case "backup":
          out.push("[nethsm.mappings.backup]", `backend_user = ${tomlString(m.backendUser)}`, ...access(m));
          break;
        case "metrics":
          out.push("[nethsm.mappings.metrics]", `backend_users = ${metrics(m.backendUsers)}`, ...access(m));
          break;
        case "hermetic_metrics":
          out.push("[nethsm.mappings.hermetic_metrics]", `backend_users = ${metrics(m.backendUsers)}`, `system_user = ${tomlString(m.systemUser)}`);
          break;
        case "backup_upload":
        case "update_upload":
          out.push(`[nethsm.mappings.${m.kind}]`, ...access(m));
          break;
        case "key_certificates":
          out.push("[nethsm.mappings.key_certificates]", `backend_users = ${strings(m.backendUsers)}`, ...access(m));
          break;
        case "signing":
          out.push(
            "[nethsm.mappings.signing]",
            `backend_user = ${tomlString(m.backendUser)}`,
            `signing_key_id = ${tomlString(m.signingKeyId)}`,
            `tag = ${tomlString(m.tag)}`,
            ...access(m),
            ...keySetupLines("nethsm.mappings.signing.key_setup", m.keySetup),
          );
          break;
      }
    }
  }
  if (config.pkcs11 !== undefined) {
    out.push("", "[pkcs11]", `module = ${tomlString(config.pkcs11.module)}`);
    for (const m of config.pkcs11.mappings) {
      out.push("", "[[pkcs11.mappings]]");
      if (m.kind === "admin") out.push(`admin = ${inline([["token", token(m.token)]])}`);
      else if (m.kind === "key_certificates" || m.kind === "metrics") out.push(`[pkcs11.mappings.${m.kind}]`, ...access(m));
      else {
        out.push(
          "[pkcs11.mappings.signing]",
          ...access(m),
          `token = ${token(m.token)}`,
          `key = ${keySelector(m.key)}`,
          ...keySetupLines("pkcs11.mappings.signing.key_setup", m.keySetup),
        );
      }
    }
  }
  return `${out.join("\n")}\n`;
}
