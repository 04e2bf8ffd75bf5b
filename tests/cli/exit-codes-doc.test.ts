import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_CODES } from "../../lib/errors.js";
import { REPO_ROOT } from "../support/repo.js";

describe("docs/exit-codes.md", () => {
  it("lists exactly EXIT_CODES, in order (edit lib/errors.ts, then the table)", async () => {
    const doc = await readFile(join(REPO_ROOT, "docs", "exit-codes.md"), "utf8");
    const rows = doc.split("\n").filter((l) => /^\| \d+ \|/.test(l));
    expect(rows).toEqual(Object.values(EXIT_CODES).map((e) => `| ${e.code} | ${e.description} |`));
  });
});
