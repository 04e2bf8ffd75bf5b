import { ExitCode, SignstarError } from "../errors.js";

/** One thing wrong with a configuration file: where (e.g. `nethsm.mappings[3].signing.tag`) and what. */
export interface Problem {
  readonly location: string;
  readonly message: string;
}

/** A primitive value failed its constructor. The message names the value, never where it came from. */
export class InvalidValue extends SignstarError {
  constructor(message: string) {
    super(message, ExitCode.Config);
  }
}

/** A configuration file is missing or invalid; `problems` lists everything found (may be empty for I/O errors). */
export class ConfigError extends SignstarError {
  readonly problems: readonly Problem[];
  /** The file the problems are in (set by fromProblems). */
  readonly origin: string | undefined;
  constructor(message: string, problems: readonly Problem[] = [], options?: { cause?: unknown; origin?: string }) {
    super(message, ExitCode.Config, options);
    this.problems = problems;
    this.origin = options?.origin;
  }

  /** `<origin>: N problems; first: <loc>: <msg>` */
  static fromProblems(origin: string, problems: readonly Problem[]): ConfigError {
    const first = problems[0];
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    const summary = first === undefined ? `${origin}: invalid configuration` : `${origin}: ${count}; first: ${formatProblem(first)}`;
    return new ConfigError(summary, problems, { origin });
  }
}

export function formatProblem(p: Problem): string {
  return `${p.location}: ${p.message}`;
}

/** Collects problems in the order they are found. */
export class Problems {
  readonly list: Problem[] = [];
  add(location: string, message: string): void {
    this.list.push({ location, message });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
}

/** Runs a throwing constructor; on InvalidValue records a problem at `location` and returns undefined. */
export function attempt<T>(problems: Problems, location: string, make: () => T): T | undefined {
  try {
    return make();
  } catch (e) {
    if (e instanceof InvalidValue) {
      problems.add(location, e.message);
      return undefined;
    }
    throw e;
  }
}
