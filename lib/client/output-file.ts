/**
 * Writing the signature: never a partial file, never a silent overwrite.
 * The data goes to a temporary file in the target's directory (created exclusively, fsync'ed), then
 * - without `force`: hard-linked to the target (atomic, fails if the target exists, even if it appeared meanwhile)
 *   and the temporary name removed;
 * - with `force`: renamed over the target.
 * The directory is fsync'ed afterwards. On any failure the temporary file is removed.
 */
import { randomBytes } from "node:crypto";
import { link, open, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { ClientInputError } from "./errors.js";
import { describeErrno } from "../os/errno.js";

/** Default output name: `FILE.sig` (binary) or `FILE.asc` (armored). */
export function defaultOutputPath(file: string, armored: boolean): string {
  return `${file}${armored ? ".asc" : ".sig"}`;
}

/** Early check (before any work): output must not be the input, a directory, or (without force) exist. */
export async function checkOutputPath(output: string, input: string, force: boolean): Promise<void> {
  if (resolve(output) === resolve(input)) throw new ClientInputError(`output ${output} is the file to sign`);
  const st = await stat(output).catch((err: unknown) => {
    if (isCode(err, "ENOENT")) return null;
    throw new ClientInputError(`output ${output} cannot be checked: ${describeErrno(err)}`, { cause: err });
  });
  if (st !== null) {
    const ist = await stat(input).catch(() => null);
    if (ist !== null && ist.dev === st.dev && ist.ino === st.ino) throw new ClientInputError(`output ${output} is the file to sign`);
    if (st.isDirectory()) throw new ClientInputError(`output ${output} is a directory`);
    if (!force) throw new ClientInputError(`output ${output} already exists (use --force to replace it)`);
  }
  const dir = dirname(resolve(output));
  const dst = await stat(dir).catch(() => null);
  if (dst === null || !dst.isDirectory()) throw new ClientInputError(`output directory ${dir} does not exist`);
}

export async function writeOutputAtomically(output: string, data: Uint8Array, force: boolean): Promise<void> {
  const dir = dirname(resolve(output));
  const temp = join(dir, `.${basename(output)}.tmp-${randomBytes(6).toString("hex")}`);
  let created = false;
  try {
    const fh = await open(temp, "wx", 0o644).catch((err: unknown) => {
      throw new ClientInputError(`cannot create a file in ${dir}: ${describeErrno(err)}`, { cause: err });
    });
    created = true;
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (force) {
      await rename(temp, output).catch((err: unknown) => {
        throw new ClientInputError(`cannot write output ${output}: ${describeErrno(err)}`, { cause: err });
      });
      created = false;
    } else {
      await link(temp, output).catch((err: unknown) => {
        if (isCode(err, "EEXIST")) throw new ClientInputError(`output ${output} already exists (use --force to replace it)`);
        throw new ClientInputError(`cannot write output ${output}: ${describeErrno(err)}`, { cause: err });
      });
    }
    await syncDir(dir);
  } catch (err) {
    if (err instanceof ClientInputError) throw err;
    throw new ClientInputError(`cannot write output ${output}: ${describeErrno(err)}`, { cause: err });
  } finally {
    if (created) await unlink(temp).catch(() => undefined);
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r").catch(() => null);
  if (fh === null) return;
  try {
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && "code" in err && (err as { code: unknown }).code === code;
}
