/**
 * signstar-request-signature (the client): `prepare FILE` prints the signing request; `send … FILE` requests the
 * signature over SSH and prints the path it wrote (lib/client/request-signature.ts does the work). A progress bar
 * goes to stderr while hashing when stderr is a terminal; a notice the host printed on success goes there too.
 */
import { oneLine } from "../errors.js";
import { progressBar, type ProgressBar, type ProgressStream } from "../client/progress.js";
import { prepareRequest, sendSigningBatch, sendSigningRequest } from "../client/request-signature.js";
import { describeVerifiedLog, verifySignatureInLog } from "../client/verify-log.js";

/** The SSH connection to the host: the same options for `send` and `verify-log`. */
export interface ConnectionArguments {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly identity?: string;
  readonly agent?: boolean;
  readonly knownHosts: string;
  /** Seconds. */
  readonly timeout: number;
  readonly connectTimeout: number;
}

export interface SendArguments extends ConnectionArguments {
  readonly output?: string;
  readonly armor: boolean;
  readonly force: boolean;
  /** Requests in flight on the one connection (several files). */
  readonly parallel?: number;
  readonly failFast?: boolean;
}

/** `verify-log`'s options. */
export interface VerifyLogArguments extends ConnectionArguments {
  readonly logKey?: string;
  readonly logKeyFile?: string;
  readonly checkpointsDir?: string;
  readonly parallel: number;
}

export interface RequestSignatureInput {
  /** `prepare`: one; `send`: one or more; `verify-log`: the signature, then optionally the signed file. */
  readonly files: readonly string[];
  /** `send`'s options; absent (and no `verifyLog`): `prepare`. */
  readonly send?: SendArguments;
  /** `verify-log`'s options. */
  readonly verifyLog?: VerifyLogArguments;
  readonly signal: AbortSignal;
  /** Progress and the host's notice (the process's stderr). */
  readonly stderr: ProgressStream & { readonly isTTY?: boolean };
  readonly program: string;
  /** Where `send FILE…` prints each written path as its file finishes. */
  readonly stdout?: { write(text: string): unknown };
}

/** What to print on stdout, or (several files, printed as they finish) the exit code. */
export async function requestSignature(input: RequestSignatureInput): Promise<string | number> {
  if (input.verifyLog !== undefined) return verifyLog(input.verifyLog, input.files, input.signal);
  if (input.send !== undefined && input.files.length > 1) return sendMany(input, input.send);
  const file = input.files[0]!;
  const bar: ProgressBar | undefined = input.stderr.isTTY ? progressBar(input.stderr, `hashing ${file}`) : undefined;
  const progress = bar ? { onProgress: bar.onProgress } : {};
  try {
    const send = input.send;
    if (send === undefined) {
      const json = await prepareRequest(file, { signal: input.signal, ...progress });
      return `${json}\n`;
    }
    const res = await sendSigningRequest({
      host: send.host,
      port: send.port,
      user: send.user,
      ...(send.identity !== undefined ? { identity: send.identity } : { agent: true }),
      knownHostsPath: send.knownHosts,
      file,
      ...(send.output !== undefined ? { output: send.output } : {}),
      armor: send.armor,
      force: send.force,
      timeoutMs: send.timeout * 1000,
      readyTimeoutMs: send.connectTimeout * 1000,
      signal: input.signal,
      ...progress,
    });
    bar?.finish();
    if (res.remoteNotice !== "") input.stderr.write(`${input.program}: host says: ${oneLine(res.remoteNotice)}\n`);
    return `${res.output}\n`;
  } finally {
    bar?.finish();
  }
}

/**
 * `send FILE…`: all files over one SSH connection (lib/client/request-signature.ts sendSigningBatch). stdout gets
 * each written path as its file finishes; stderr one line per failed file, one progress bar for the batch (on a
 * terminal) and a summary line. Exit code 0 when every file was signed, else the first failed file's.
 */
async function sendMany(input: RequestSignatureInput, send: SendArguments): Promise<number> {
  const bar: ProgressBar | undefined = input.stderr.isTTY ? progressBar(input.stderr, `hashing ${input.files.length} files`) : undefined;
  const say = (text: string): void => {
    bar?.finish();
    input.stderr.write(text);
  };
  let signed = 0;
  let firstFailure: number | undefined;
  try {
    const results = await sendSigningBatch({
      host: send.host,
      port: send.port,
      user: send.user,
      ...(send.identity !== undefined ? { identity: send.identity } : { agent: true }),
      knownHostsPath: send.knownHosts,
      files: input.files,
      ...(send.output !== undefined ? { output: send.output } : {}),
      armor: send.armor,
      force: send.force,
      timeoutMs: send.timeout * 1000,
      readyTimeoutMs: send.connectTimeout * 1000,
      ...(send.parallel !== undefined ? { parallel: send.parallel } : {}),
      ...(send.failFast ? { failFast: true } : {}),
      signal: input.signal,
      ...(bar ? { onProgress: bar.onProgress } : {}),
      onResult: (r) => {
        if (r.ok) {
          signed++;
          (input.stdout ?? process.stdout).write(`${r.result.output}\n`);
          if (r.result.remoteNotice !== "") say(`${input.program}: ${r.file}: host says: ${r.result.remoteNotice}\n`);
        } else {
          firstFailure ??= r.exitCode;
          say(`${input.program}: ${r.file}: ${r.message}\n`);
        }
      },
    });
    const failed = results.filter((r) => !r.ok).length;
    const skipped = input.files.length - results.length;
    say(`${input.program}: signed ${signed} of ${input.files.length} files${failed > 0 ? `, ${failed} failed` : ""}${skipped > 0 ? `, ${skipped} not tried (--fail-fast)` : ""}\n`);
    return firstFailure ?? 0;
  } finally {
    bar?.finish();
  }
}

/** `verify-log SIGNATURE [FILE]`: one line on stdout once the signature is proven in the host's log. */
async function verifyLog(v: VerifyLogArguments, files: readonly string[], signal: AbortSignal): Promise<string> {
  const [signature, file] = files;
  const result = await verifySignatureInLog({
    host: v.host,
    port: v.port,
    user: v.user,
    ...(v.identity !== undefined ? { identity: v.identity } : { agent: true }),
    knownHostsPath: v.knownHosts,
    ...(v.logKey !== undefined ? { logKey: v.logKey } : {}),
    ...(v.logKeyFile !== undefined ? { logKeyFile: v.logKeyFile } : {}),
    ...(v.checkpointsDir !== undefined ? { checkpointsDir: v.checkpointsDir } : {}),
    signature: signature!,
    ...(file !== undefined ? { file } : {}),
    timeoutMs: v.timeout * 1000,
    readyTimeoutMs: v.connectTimeout * 1000,
    parallel: v.parallel,
    signal,
  });
  return `${describeVerifiedLog(result, file)}\n`;
}
