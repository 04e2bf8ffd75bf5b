/**
 * Builds and runs tests/tlog/go-verifier (Go's golang.org/x/mod/sumdb/{note,tlog} from Debian's golang-go and
 * golang-golang-x-mod-dev): offline, in GOPATH mode against /usr/share/gocode, with a clean environment.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./repo.js";
import { run, type RunResult } from "./run.js";

/** Builds the verifier into a fresh temporary directory and returns the binary's path. */
export async function buildGoVerifier(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), "signstar-tlog-go-"));
  const env = { PATH: "/usr/bin:/bin", HOME: out, GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOPROXY: "off", GOFLAGS: "", GOCACHE: join(out, "cache") };
  const bin = join(out, "go-verifier");
  const r = await run("go", ["build", "-o", bin, join(REPO_ROOT, "tests", "tlog", "go-verifier", "main.go")], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`go build failed: ${r.stderr}`);
  return bin;
}

export function goVerify(bin: string, dir: string, vkey: string, ...args: string[]): Promise<RunResult> {
  return run(bin, [dir, vkey, ...args], { env: { PATH: "/usr/bin:/bin" }, timeoutMs: 60_000 });
}
