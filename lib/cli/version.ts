/**
 * The version --version prints: the `version` of Signstar's package.json, found upwards from the running
 * executable. That works for the bundled CommonJS executables and the unbundled launchers in dist/bin/
 * (../../package.json), and for an installed tree such as /usr/lib/signstar/bin/ (../package.json), also when
 * started through a symbolic link in /usr/bin (the link is resolved). It asks process.argv, not the module's own
 * location, which a bundled module does not keep.
 */
import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";

const PACKAGE_NAME = "signstar-ts";

export function packageVersion(executable: string | undefined = process.argv[1]): string {
  if (executable === undefined) return "unknown";
  let dir: string;
  try {
    dir = dirname(realpathSync(executable));
  } catch {
    return "unknown";
  }
  for (let i = 0; i < 4; i++) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (typeof pkg === "object" && pkg !== null && "name" in pkg && pkg.name === PACKAGE_NAME && "version" in pkg) return String(pkg.version);
    } catch {
      // no package.json here (or not ours, e.g. dist/bin's typeless one): look further up
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return "unknown";
}
