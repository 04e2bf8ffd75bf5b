/**
 * Test hook for crash-safety tests: when the environment variable SIGNSTAR_CONFIGURE_CRASH_AT names a crash
 * point, the process kills itself with SIGKILL when it reaches that point (no cleanup, no finally blocks),
 * which is what a power loss or `kill -9` does. Unset (always in production) it does nothing.
 */
export const CRASH_ENV = "SIGNSTAR_CONFIGURE_CRASH_AT";

/** Every crash point, in the order a run reaches them (tests iterate over this list). */
export const CRASH_POINTS = [
  "admin:after-stage",
  "shares:after-claim",
  "shares:after-deliver",
  "pkcs11:after-next-written",
  "pkcs11:after-pin-set",
  "pkcs11:after-first-rename",
  "pkcs11:after-key",
  "apply:after-restore",
  "nethsm:after-provision",
  "apply:after-update-upload",
  "nethsm:after-next-written",
  "nethsm:after-passphrase-set",
  "nethsm:after-key",
  "log:after-key",
  "uploads:before-wipe",
  "state:before-save",
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export function crashPoint(point: CrashPoint, env: NodeJS.ProcessEnv = process.env): void {
  if (env[CRASH_ENV] === point) process.kill(process.pid, "SIGKILL");
}
