/**
 * Bounding PKCS#11 calls that never return.
 *
 * pkcs11js calls are synchronous: a module that hangs (a dead HSM, a p11-kit server that accepts and never
 * answers, a module stuck in C_Initialize) blocks the event loop, so no JS timer, promise race or worker
 * (pkcs11js does not work in worker threads, and a thread stuck in native code cannot be stopped) can bound it.
 * What can: another process. Each process that uses a PKCS#11 module gets one tiny watchdog process
 * (`/bin/bash`, builtins only, ~1 ms to spawn). Before every guarded section the library writes
 * `arm <seconds> <message>` on the watchdog's stdin, and `disarm` after it; a pipe write of a short line is
 * synchronous and atomic, so it reaches the watchdog even if the very next native call blocks. If the
 * deadline passes without `disarm`, the watchdog writes the one-line message to the (inherited) stderr and
 * SIGKILLs the process: a signing process is short-lived and holds nothing that outlives it, so ending it is
 * the only sound way out of a native call that never returns. When the process ends normally the pipe closes
 * and the watchdog exits with it.
 *
 * Cost per guarded section: two pipe writes (a few µs). Exit status after a hang: killed by SIGKILL (137 in
 * a shell), with the message on stderr – not exit code 7, because the blocked process cannot run any code.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { oneLine } from "../../errors.js";
import { Pkcs11Error } from "./errors.js";

const SCRIPT = `
set -u
while IFS= read -r line; do
  case "$line" in
    "arm "*) ;;
    *) continue ;;
  esac
  rest=\${line#arm }
  secs=\${rest%% *}
  msg=\${rest#* }
  if IFS= read -r -t "$secs" line; then continue; else rc=$?; fi
  if [ "$rc" -gt 128 ]; then
    printf '%s\\n' "$msg" >&2
    kill -KILL "$PPID"
  fi
  exit 0
done
`;

let child: ChildProcess | undefined;
let users = 0;
let depth = 0;

/** Starts the watchdog for this process (shared, reference counted). */
export function acquireWatchdog(): void {
  users++;
  if (child !== undefined) return;
  const c = spawn("/bin/bash", ["--noprofile", "--norc", "-c", SCRIPT], {
    stdio: ["pipe", "ignore", "inherit"],
    env: { LC_ALL: "C" },
  });
  c.on("error", () => {
    /* reported by guard() through the missing pid */
  });
  c.stdin?.on("error", () => {
    /* the watchdog went away; guard() notices */
  });
  c.unref();
  // The stdin pipe must not keep the event loop alive either.
  (c.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  child = c;
}

/** Drops one reference; the watchdog exits when the last user is gone. */
export function releaseWatchdog(): void {
  if (users > 0) users--;
  if (users === 0 && child !== undefined) {
    child.stdin?.end();
    child = undefined;
  }
}

/**
 * Runs `fn` (synchronous PKCS#11 calls only, no await inside) with a deadline. `message` is what the user
 * sees if the deadline passes; it must not contain a secret.
 */
export function guard<T>(timeoutMs: number, message: string, fn: () => T): T {
  const c = child;
  if (c === undefined || c.pid === undefined || c.stdin === null || c.stdin.destroyed) {
    // Fail closed: without a watchdog a hanging module could block this process forever.
    throw new Pkcs11Error("cannot bound the PKCS#11 call: the watchdog process (/bin/bash) is not running");
  }
  // Guarded sections may nest (a helper that guards its own calls, used inside a guarded section): only the
  // outermost one arms the watchdog, and its deadline covers everything inside.
  if (depth++ === 0) {
    const secs = (Math.max(1, timeoutMs) / 1000).toFixed(3);
    c.stdin.write(`arm ${secs} ${oneLine(message)}\n`);
  }
  try {
    return fn();
  } finally {
    if (--depth === 0) c.stdin.write("disarm\n");
  }
}
