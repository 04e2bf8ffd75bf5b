/** Errors of the share layer: one line, naming the check that failed, never containing share data. */
import { ExitCode, SignstarError } from "../../errors.js";

/** Which check rejected a share or a set of shares. */
export type ShareProblem =
  | "format"
  | "checksum"
  | "iteration"
  | "set"
  | "parameters"
  | "index"
  | "commitment"
  | "duplicate"
  | "too-few"
  | "combine"
  | "holder"
  | "already-downloaded"
  | "not-staged"
  | "not-downloaded"
  | "confirmation"
  | "no-share-set"
  | "record"
  | "storage"
  | "lost";

export class ShareError extends SignstarError {
  readonly problem: ShareProblem;
  constructor(problem: ShareProblem, message: string, exitCode: number = ExitCode.BadInput) {
    super(message, exitCode);
    this.problem = problem;
  }
}
