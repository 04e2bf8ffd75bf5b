/** errno codes of failed file-system calls, their short descriptions, and mode bits as text, for one-line messages. */

export function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export function isMissing(error: unknown): boolean {
  return errnoCode(error) === "ENOENT";
}

/** Short reason for a failed file-system call (lives in lib/errors.ts, which the signing path may import too). */
export { describeErrno } from "../errors.js";

/** `0755`-style text of the permission bits. */
export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}
