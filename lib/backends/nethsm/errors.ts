import { ExitCode, SignstarError } from "../../errors.js";

/** Any failure talking to a NetHSM. Messages name the URL, operation and user, never a passphrase. */
export class NetHsmError extends SignstarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Backend, options);
  }
}

/** No HTTP response: refused, unreachable, TLS failure, certificate pin mismatch. The client fails over on these. */
export class NetHsmConnectionError extends NetHsmError {
  constructor(
    readonly url: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`NetHSM ${url}: connection failed: ${detail}`, options);
  }
}

export class NetHsmTimeoutError extends NetHsmError {}

/** What each status means on a NetHSM: the API's responses (`docs/nethsm-api.yaml`) as the server code answers them (`src/keyfender/`, Nitrokey/nethsm 4e192fb9). */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  304: "not modified (already present)",
  400: "bad request",
  401: "authentication failed (unknown user or wrong passphrase)",
  403: "access denied (wrong role, namespace, tag restriction or passphrase)",
  404: "not found",
  405: "method not allowed",
  406: "response type not acceptable",
  409: "conflict (already exists)",
  412: "precondition failed (the NetHSM is not in the state this operation needs)",
  413: "request too large",
  414: "URI too long",
  415: "unsupported content type",
  429: "too many requests (a login failed less than 1 s ago)",
  500: "internal server error",
  501: "method unknown to the NetHSM",
  503: "service unavailable",
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? "unexpected status";
}

/** The NetHSM answered with an error status. `serverMessage` is the `{"message"}` body, if any. */
export class NetHsmHttpError extends NetHsmError {
  /** 401: the NetHSM refused the user's credentials. */
  readonly authenticationFailed: boolean;
  constructor(
    readonly status: number,
    readonly operation: string,
    readonly serverMessage: string | undefined,
    context: string,
  ) {
    super(`${context}: ${operation}: ${status} ${statusText(status)}${serverMessage ? `: ${serverMessage}` : ""}`);
    this.authenticationFailed = status === 401;
  }
}

/** The NetHSM answered 2xx with a body this client cannot use. */
export class NetHsmProtocolError extends NetHsmError {}
