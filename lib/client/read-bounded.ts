import { open } from "node:fs/promises";

/**
 * Read a whole regular file of at most `maxBytes` bytes. The size is checked on the open descriptor (fstat) and
 * again while reading, so a file that grows in between is still refused. `fail` builds the error to throw from
 * a one-line reason; the reason names `what` and `path`.
 */
export async function readBoundedFile(
  path: string,
  maxBytes: number,
  what: string,
  fail: (message: string, cause?: unknown) => Error,
): Promise<{ data: Buffer; mode: number; uid: number }> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    throw fail(`${what} ${path} cannot be opened: ${describeFsError(err)}`, err);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw fail(`${what} ${path} is not a regular file`);
    if (st.size > maxBytes) throw fail(`${what} ${path} is larger than ${maxBytes} bytes`);
    const buf = Buffer.alloc(maxBytes + 1);
    let used = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, used, buf.length - used, null);
      if (bytesRead === 0) break;
      used += bytesRead;
      if (used > maxBytes) throw fail(`${what} ${path} is larger than ${maxBytes} bytes`);
    }
    return { data: buf.subarray(0, used), mode: st.mode, uid: st.uid };
  } finally {
    await handle.close();
  }
}

/** Short reason for a failed file-system call, without the path (the caller names it). */
export function describeFsError(err: unknown): string {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
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
        if (typeof code === "string") return code;
    }
  }
  return "unexpected error";
}
