/** Paths inside the repository, from the .ts sources (vitest) and from their compiled copies in dist/. */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the nearest directory above this file that holds package.json (skipping dist/). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (dir !== "/" && (!existsSync(join(dir, "package.json")) || dir.endsWith("/dist"))) dir = dirname(dir);
  return dir;
})();

/** Test fixtures kept in the repository (tests/fixtures). */
export const FIXTURES = join(REPO_ROOT, "tests", "fixtures");
