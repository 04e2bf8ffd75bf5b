/**
 * How the client authenticates: a private key file (`--identity`) or an ssh-agent socket (`--agent`).
 *
 * Identity files: at most 64 KiB, a regular file, and, like OpenSSH, refused when it belongs to us and is
 * readable or writable by group or others. Passphrase-protected keys are refused: we never prompt or take a
 * passphrase; load such a key into ssh-agent (`ssh-add KEY`) and use the agent instead.
 */
import { lstat } from "node:fs/promises";
import ssh2 from "ssh2";
import { describeErrno } from "../os/errno.js";
import { readCheckedFile } from "../os/read-file.js";
import { ClientConfigError, clientFileError } from "./errors.js";

export type SshAuth =
  | { readonly kind: "identity"; readonly path: string; readonly privateKey: Buffer }
  | { readonly kind: "agent"; readonly socket: string };

export const MAX_IDENTITY_BYTES = 64 * 1024;

export async function loadIdentity(path: string): Promise<SshAuth> {
  // The user's own file, named by the user: a symbolic link is followed, as OpenSSH does.
  const { data, stat } = await readCheckedFile(path, { what: "identity file", maxBytes: MAX_IDENTITY_BYTES, followSymlinks: true }).catch((e: unknown) => {
    throw clientFileError(e);
  });
  // What the file holds is said first: a public key (`--identity key.pub`, mode 0644 as ssh-keygen writes it) is
  // the wrong file, and telling its owner to chmod it would mislead.
  const parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error) {
    if (/passphrase/i.test(parsed.message)) {
      throw new ClientConfigError(
        `identity file ${path} is passphrase-protected; load it into ssh-agent (ssh-add) and use --agent`,
      );
    }
    throw new ClientConfigError(`identity file ${path} is not a supported SSH private key`);
  }
  const key = Array.isArray(parsed) ? (parsed as unknown[])[0] : parsed;
  if (!isPrivate(key)) {
    throw new ClientConfigError(
      `identity file ${path} holds no private key${/\.pub$/.test(path) ? ` (it is a public key; give ${path.slice(0, -4)})` : ""}`,
    );
  }
  const { mode, uid } = stat;
  const myUid = typeof process.getuid === "function" ? process.getuid() : -1;
  if (uid === myUid && (mode & 0o077) !== 0) {
    throw new ClientConfigError(
      `identity file ${path} is accessible by others (mode ${(mode & 0o777).toString(8).padStart(4, "0")}); chmod 600 it`,
    );
  }
  return { kind: "identity", path, privateKey: data };
}

function isPrivate(key: unknown): boolean {
  return (
    typeof key === "object" &&
    key !== null &&
    "isPrivateKey" in key &&
    typeof key.isPrivateKey === "function" &&
    key.isPrivateKey() === true
  );
}

/** An ssh-agent socket: `socket`, else `$SSH_AUTH_SOCK`; it must exist and be a socket. */
export async function agentAuth(socket: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<SshAuth> {
  const path = socket ?? env["SSH_AUTH_SOCK"];
  if (path === undefined || path === "") {
    throw new ClientConfigError("--agent needs an ssh-agent: SSH_AUTH_SOCK is not set");
  }
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    throw new ClientConfigError(`ssh-agent socket ${path} cannot be used: ${describeErrno(err)}`, { cause: err });
  }
  if (!st.isSocket()) throw new ClientConfigError(`ssh-agent socket ${path} is not a socket`);
  return { kind: "agent", socket: path };
}
