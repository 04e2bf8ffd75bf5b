/**
 * signstar-request-signature (the client): `prepare FILE` prints the signing request; `send … FILE` requests the
 * signature over SSH and prints the path it wrote (lib/client/request-signature.ts does the work). A progress bar
 * goes to stderr while hashing when stderr is a terminal; a notice the host printed on success goes there too.
 */
import { progressBar, type ProgressBar, type ProgressStream } from "../client/progress.js";
import { prepareRequest, sendSigningRequest } from "../client/request-signature.js";

export interface SendArguments {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly identity?: string;
  readonly agent?: boolean;
  readonly knownHosts: string;
  readonly output?: string;
  readonly armor: boolean;
  readonly force: boolean;
  /** Seconds. */
  readonly timeout: number;
  readonly connectTimeout: number;
}

export interface RequestSignatureInput {
  readonly file: string;
  /** `send`'s options; absent: `prepare`. */
  readonly send?: SendArguments;
  readonly signal: AbortSignal;
  /** Progress and the host's notice (the process's stderr). */
  readonly stderr: ProgressStream & { readonly isTTY?: boolean };
  readonly program: string;
}

/** What to print on stdout. */
export async function requestSignature(input: RequestSignatureInput): Promise<string> {
  const bar: ProgressBar | undefined = input.stderr.isTTY ? progressBar(input.stderr, `hashing ${input.file}`) : undefined;
  const progress = bar ? { onProgress: bar.onProgress } : {};
  try {
    const send = input.send;
    if (send === undefined) {
      const json = await prepareRequest(input.file, { signal: input.signal, ...progress });
      return `${json}\n`;
    }
    const res = await sendSigningRequest({
      host: send.host,
      port: send.port,
      user: send.user,
      ...(send.identity !== undefined ? { identity: send.identity } : { agent: true }),
      knownHostsPath: send.knownHosts,
      file: input.file,
      ...(send.output !== undefined ? { output: send.output } : {}),
      armor: send.armor,
      force: send.force,
      timeoutMs: send.timeout * 1000,
      readyTimeoutMs: send.connectTimeout * 1000,
      signal: input.signal,
      ...progress,
    });
    bar?.finish();
    if (res.remoteNotice !== "") input.stderr.write(`${input.program}: host says: ${res.remoteNotice}\n`);
    return `${res.output}\n`;
  } finally {
    bar?.finish();
  }
}
