/**
 * What every production-flow test of the signing log does with a signature: the installed client signs a file over
 * the host's sshd (./production-host.ts), and the entry the signature's hashed notation names is proven included in
 * the host's log by our verifier (lib/tlog/reader.ts) and by Go's golang.org/x/mod/sumdb/tlog (./go-tlog-verifier.ts),
 * with the verifier key the operator published.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import { LOG_NOTATION } from "../../lib/tlog/client.js";
import { decodeEntry, type LogEntry } from "../../lib/tlog/entry.js";
import { parseVerifierKey } from "../../lib/tlog/note.js";
import { directoryFetch, fetchCheckpoint, verifyEntryInclusion } from "../../lib/tlog/reader.js";
import { goVerify } from "./go-tlog-verifier.js";
import type { ProductionSshd } from "./production-host.js";
import { REPO_ROOT } from "./repo.js";
import { run, type RunResult } from "./run.js";
import { parseSignature } from "./signature-parse.js";

export const CLIENT = join(REPO_ROOT, "dist", "bin", "signstar-request-signature.js");

/** `signstar-request-signature send` as `user` with its SSH key, the host pinned in sshd's known_hosts. */
export function sendForSigning(sshd: ProductionSshd, user: string, identity: string, file: string): Promise<RunResult> {
  return run(process.execPath, [CLIENT, "send", "--host", sshd.host, "--port", String(sshd.port), "--user", user, "--identity", identity, "--known-hosts", sshd.knownHosts, file]);
}

/** Signs `file` as `user`, which must succeed quietly; returns the signature's path (`FILE.sig`). */
export async function signFile(sshd: ProductionSshd, user: string, identity: string, file: string): Promise<string> {
  const r = await sendForSigning(sshd, user, identity, file);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return `${file}.sig`;
}

/** The log index the signature's notation names; the notation must name `origin`. */
export async function logIndexOf(sig: string, origin: string): Promise<number> {
  const notation = parseSignature(new Uint8Array(await readFile(sig))).notations.find((n) => n.name === LOG_NOTATION);
  expect(notation, `${sig} has no ${LOG_NOTATION} notation`).toBeDefined();
  const [named, index] = Buffer.from(notation!.value).toString().split(" ");
  expect(named).toBe(origin);
  return Number(index);
}

/**
 * Entry `index` of the log in `dir` is in the tree of the checkpoint signed with `vkey`, by our verifier and Go's;
 * it is a signature entry of `user`. Returns the entry.
 */
export async function provenIncluded(opts: { readonly dir: string; readonly vkey: string; readonly go: string; readonly index: number; readonly user: string }): Promise<LogEntry> {
  const fetch = directoryFetch(opts.dir);
  const { checkpoint } = await fetchCheckpoint(fetch, parseVerifierKey(opts.vkey));
  const entry = decodeEntry(await verifyEntryInclusion(fetch, checkpoint, opts.index));
  expect(entry).toMatchObject({ kind: "signature", user: opts.user });
  const go = await goVerify(opts.go, opts.dir, opts.vkey, "inclusion", String(opts.index));
  expect(go.stderr).toBe("");
  expect(go.stdout).toMatch(/^ok entry/);
  return entry;
}

/** The verifier key signstar-configure printed (`info: signing log verifier key <origin>+<id>+<key>`), if it did. */
export function printedVerifierKey(out: string): string | undefined {
  return /^info: signing log verifier key (\S+)$/m.exec(out)?.[1];
}

/** Where a production test's signatures go and how they are checked: the client's side and the log's. */
export interface LoggedSigning {
  readonly sshd: ProductionSshd;
  readonly user: string;
  readonly identity: string;
  /** A directory for the files to sign. */
  readonly work: string;
  readonly origin: string;
  /** The log directory as the test sees it, its verifier key, the Go verifier. */
  readonly dir: string;
  readonly vkey: string;
  readonly go: string;
}

/** Signs a fresh file `work/name.tar` and proves its entry included by both verifiers; returns its index. */
export async function signAndProve(s: LoggedSigning, name: string): Promise<number> {
  const data = join(s.work, `${name}.tar`);
  await writeFile(data, `${name} ${Date.now()}\n`);
  const index = await logIndexOf(await signFile(s.sshd, s.user, s.identity, data), s.origin);
  await provenIncluded({ dir: s.dir, vkey: s.vkey, go: s.go, index, user: s.user });
  return index;
}
