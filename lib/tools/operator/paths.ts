/**
 * Host paths of the operator tools (signature counters, WireGuard key), below an optional root
 * prefix. `SIGNSTAR_ROOT` sets that prefix for tests and image builds. A client cannot set it: sshd ignores
 * ~/.ssh/environment (PermitUserEnvironment no), Debian's sshd_config only accepts `AcceptEnv LANG LC_*` from the
 * client, and a Signstar user cannot write a ~/.pam_environment (its home is root:root 0755). So only the
 * administrator can set it (sshd SetEnv, unit files).
 * Secrets are not affected: they always live below /var/lib/signstar/home (lib/secrets/non-admin-paths.ts).
 */
import { join } from "node:path";

export const SIGNATURE_COUNTERS_DIR = "/var/lib/signstar/metrics/signatures";
export const WIREGUARD_DIR = "/etc/signstar/wireguard";
export const WIREGUARD_PUBLIC_KEY = "public.key";
export const WIREGUARD_PRIVATE_KEY = "private.key";

/** `path` below `root` (undefined, "" or "/" mean the live system). */
export function hostPath(root: string | undefined, path: string): string {
  return root === undefined || root === "" || root === "/" ? path : join(root, path);
}

/** The root prefix from the environment (`SIGNSTAR_ROOT`), if set and absolute. */
export function rootFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const root = env.SIGNSTAR_ROOT;
  return root !== undefined && root.startsWith("/") ? root : undefined;
}
