/** errno codes of failed file-system calls, their short descriptions, and mode bits as text, for one-line messages. */

export function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export function isMissing(error: unknown): boolean {
  return errnoCode(error) === "ENOENT";
}

/** Short reason for a failed file-system call, without the path (the caller names it). */
export function describeErrno(error: unknown): string {
  const code = errnoCode(error);
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a parent is not a directory";
    case "ELOOP":
      return "too many symbolic links";
    default:
      return code ?? "unexpected error";
  }
}

/** `0755`-style text of the permission bits. */
export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}
