/** Who is calling: the effective user of this process, as sshd set it up for the ForceCommand. */
import { ExitCode, SignstarError } from "../errors.js";
import { currentUser } from "../os/accounts.js";

export interface Caller {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

export class CallerError extends SignstarError {
  constructor(message: string) {
    super(message, ExitCode.Denied);
  }
}

/** The effective Unix user (libuv reads the passwd entry of geteuid()). */
export function currentCaller(): Caller {
  return currentUser();
}

/** Host tools that act for a user never run as root: root has no mapping and must not read users' secrets. */
export function refuseRoot(caller: Caller): void {
  if (caller.uid === 0) throw new CallerError(`this command must not be run as root, but it runs as "${caller.name}"`);
}
