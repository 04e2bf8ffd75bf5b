import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_PATHS, findConfigFile, loadConfig, readConfigText, MAX_CONFIG_BYTES } from "../../lib/config/load.js";
import { ConfigError } from "../../lib/config/problems.js";
import { ExitCode } from "../../lib/errors.js";

const example = readFileSync(new URL("../../config/example-softhsm.toml", import.meta.url), "utf8");
let root: string;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), "signstar-config-load-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function place(p: string, content = example): string {
  const full = path.join(root, p);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, content);
  return full;
}

describe("config file search order", () => {
  it("is /etc > /run > /usr/local/share > /usr/share, config.toml and config.yaml in each", async () => {
    expect(DEFAULT_CONFIG_PATHS).toEqual([
      "/etc/signstar/config.toml",
      "/etc/signstar/config.yaml",
      "/run/signstar/config.toml",
      "/run/signstar/config.yaml",
      "/usr/local/share/signstar/config.toml",
      "/usr/local/share/signstar/config.yaml",
      "/usr/share/signstar/config.toml",
      "/usr/share/signstar/config.yaml",
    ]);
    const found: string[] = [];
    // From the lowest priority up, one file per directory, alternating TOML and YAML names.
    const order = ["/usr/share/signstar/config.yaml", "/usr/local/share/signstar/config.toml", "/run/signstar/config.yaml", "/etc/signstar/config.toml"];
    for (const p of order) {
      place(p);
      found.push(await findConfigFile({ root, env: {} }));
    }
    expect(found).toEqual(order.map((p) => path.join(root, p)));
  });

  it("skips a directory in place of a file", async () => {
    mkdirSync(path.join(root, "etc/signstar/config.toml"), { recursive: true });
    place("/usr/share/signstar/config.toml");
    expect(await findConfigFile({ root, env: {} })).toBe(path.join(root, "usr/share/signstar/config.toml"));
  });

  it("SIGNSTAR_CONFIG overrides the search, --config overrides SIGNSTAR_CONFIG", async () => {
    place("/etc/signstar/config.toml");
    const envFile = place("/elsewhere/env.toml");
    const argFile = place("/elsewhere/arg.toml");
    expect(await findConfigFile({ root, env: { SIGNSTAR_CONFIG: envFile } })).toBe(envFile);
    expect(await findConfigFile({ root, env: { SIGNSTAR_CONFIG: envFile }, path: argFile })).toBe(argFile);
    expect(await findConfigFile({ root, env: { SIGNSTAR_CONFIG: "" } })).toBe(path.join(root, "etc/signstar/config.toml"));
  });

  it("names every path searched when nothing is found", async () => {
    const err = await findConfigFile({ root, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(ExitCode.Config);
    const searched = DEFAULT_CONFIG_PATHS.filter((p) => p.endsWith(".toml")).map((p) => path.join(root, p)).join(", ");
    expect((err as Error).message).toBe(`no configuration file found (searched ${searched}, each also as config.yaml; set --config or SIGNSTAR_CONFIG)`);
  });

  it("loads and parses the file found", async () => {
    place("/run/signstar/config.toml");
    const { config, path: p } = await loadConfig({ root, env: {} });
    expect(p).toBe(path.join(root, "run/signstar/config.toml"));
    expect(config.pkcs11?.module).toBe("/usr/lib/softhsm/libsofthsm2.so");
  });
});

describe("reading the file", () => {
  it("refuses missing, oversized and non-UTF-8 files with one line naming the file", async () => {
    const missing = path.join(root, "none.toml");
    await expect(readConfigText(missing)).rejects.toThrow(`cannot read the configuration file ${missing}: no such file`);
    const big = place("/big.toml", "#".repeat(MAX_CONFIG_BYTES + 1));
    await expect(readConfigText(big)).rejects.toThrow(`the configuration file ${big} is larger than ${MAX_CONFIG_BYTES} bytes`);
    const bad = path.join(root, "latin1.toml");
    writeFileSync(bad, Buffer.from([0x23, 0xe9, 0x0a]));
    await expect(readConfigText(bad)).rejects.toThrow(`the configuration file ${bad} is not valid UTF-8`);
    await expect(readConfigText(root)).rejects.toThrow(`the configuration file ${root} is not a regular file`);
  });

  it("reports an invalid file with all problems", async () => {
    const f = place("/etc/signstar/config.toml", example.replace('label = "signstar" }', 'label = "other" }'));
    const err = await loadConfig({ root, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      {
        location: "pkcs11.mappings[1].signing.token",
        message: 'token label "signstar" has no admin mapping (add a mapping admin = { token = … } for it)',
      },
    ]);
    expect((err as Error).message).toBe(
      `${f}: 1 problem; first: pkcs11.mappings[1].signing.token: token label "signstar" has no admin mapping (add a mapping admin = { token = … } for it)`,
    );
  });
});
