import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  describeHostKey,
  globMatch,
  hostKeyAlgorithmsFor,
  hostKeyVerdict,
  knownHostName,
  loadKnownHosts,
  parseKnownHosts,
  readKnownHosts,
  MAX_KNOWN_HOSTS_BYTES,
} from "../../lib/client/known-hosts.js";
import { ClientConfigError } from "../../lib/client/errors.js";

// Keys and hashed entry from Signstar's signstar-request-signature/src/ssh/known_hosts.rs tests (archlinux/signstar d6ad4e9).
const GITLAB_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAICjT2SuA0k/xc5Cbyp+eBY5uN3bRL2K7GdpNtltOK6vy";
const OTHER_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAICjT2SuA0k/xc5Cbyp+eBY5uN3bRL2K89dpNtltOK6vy";
const GITHUB_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const blob = (b64: string): Buffer => Buffer.from(b64, "base64");
const verdict = (text: string, host: string, port: number, key: string): string =>
  hostKeyVerdict(parseKnownHosts(text).entries, host, port, blob(key));

describe("known_hosts: Signstar's seven cases", () => {
  it("single entry is trusted", () => {
    expect(verdict(`gitlab.archlinux.org ssh-ed25519 ${GITLAB_KEY}`, "gitlab.archlinux.org", 22, GITLAB_KEY)).toBe(
      "trusted",
    );
  });
  it("[host]:22 entry is trusted for port 22 (Signstar accepts it; documented deviation from OpenSSH)", () => {
    expect(
      verdict(`[gitlab.archlinux.org]:22 ssh-ed25519 ${GITLAB_KEY}`, "gitlab.archlinux.org", 22, GITLAB_KEY),
    ).toBe("trusted");
  });
  it("@revoked entry is not trusted", () => {
    expect(
      verdict(`@revoked gitlab.archlinux.org ssh-ed25519 ${GITLAB_KEY}`, "gitlab.archlinux.org", 22, GITLAB_KEY),
    ).toBe("revoked");
  });
  it("@cert-authority entry is not trusted", () => {
    expect(
      verdict(`@cert-authority gitlab.archlinux.org ssh-ed25519 ${GITLAB_KEY}`, "gitlab.archlinux.org", 22, GITLAB_KEY),
    ).toBe("unknown");
  });
  it("entry with another key does not trust this key", () => {
    expect(verdict(`gitlab.archlinux.org ssh-ed25519 ${OTHER_KEY}`, "gitlab.archlinux.org", 22, GITLAB_KEY)).toBe(
      "mismatch",
    );
  });
  it("entry for another port does not apply", () => {
    expect(
      verdict(`[gitlab.archlinux.org]:23 ssh-ed25519 ${OTHER_KEY}`, "gitlab.archlinux.org", 22, GITLAB_KEY),
    ).toBe("unknown");
    expect(
      verdict(`[gitlab.archlinux.org]:23 ssh-ed25519 ${GITLAB_KEY}`, "gitlab.archlinux.org", 22, GITLAB_KEY),
    ).toBe("unknown");
  });
  it("hashed entry (ssh-keygen -H) is trusted", () => {
    const line = `|1|b8LfkX9Y09oxr9MMnQyfC9CtciI=|MnTpZgaon9ON5+hrylyRlq/li3Q= ssh-ed25519 ${GITHUB_KEY}`;
    expect(verdict(line, "github.com", 22, GITHUB_KEY)).toBe("trusted");
    expect(verdict(line, "gitlab.com", 22, GITHUB_KEY)).toBe("unknown");
  });
});

describe("known_hosts: OpenSSH semantics", () => {
  // Generated with `ssh-keygen -H` from "[signer.example]:2222 ssh-ed25519 <K>".
  const K = "AAAAC3NzaC1lZDI1NTE5AAAAIHvEyzwvh5dGJ+IjpEar6RJ9zr3QIn2n1QmTX0AUhjTD";
  const HASHED_2222 = `|1|n/3D6cSY2M9YjVlPIjYg7zKXPws=|ojfO3ROxG7nrGD1CE7A45wW5FPw= ssh-ed25519 ${K}`;

  it("hashed entry with a port matches [host]:port only", () => {
    expect(verdict(HASHED_2222, "signer.example", 2222, K)).toBe("trusted");
    expect(verdict(HASHED_2222, "SIGNER.example", 2222, K)).toBe("trusted");
    expect(verdict(HASHED_2222, "signer.example", 22, K)).toBe("unknown");
    expect(verdict(HASHED_2222, "signer.example", 2223, K)).toBe("unknown");
  });

  it("plain host entry does not apply to a non-22 port", () => {
    expect(verdict(`signer.example ssh-ed25519 ${K}`, "signer.example", 2222, K)).toBe("unknown");
    expect(verdict(`[signer.example]:2222 ssh-ed25519 ${K}`, "signer.example", 2222, K)).toBe("trusted");
  });

  it("comma lists and case-insensitive names", () => {
    const text = `alpha.example,Signer.Example,10.0.0.1 ssh-ed25519 ${K}`;
    expect(verdict(text, "signer.example", 22, K)).toBe("trusted");
    expect(verdict(text, "10.0.0.1", 22, K)).toBe("trusted");
    expect(verdict(text, "beta.example", 22, K)).toBe("unknown");
  });

  it("wildcards * and ?", () => {
    expect(verdict(`*.example ssh-ed25519 ${K}`, "signer.example", 22, K)).toBe("trusted");
    expect(verdict(`*.example ssh-ed25519 ${K}`, "signer.example.org", 22, K)).toBe("unknown");
    expect(verdict(`signer?.example ssh-ed25519 ${K}`, "signer1.example", 22, K)).toBe("trusted");
    expect(verdict(`signer?.example ssh-ed25519 ${K}`, "signer12.example", 22, K)).toBe("unknown");
    expect(verdict(`[*.example]:2222 ssh-ed25519 ${K}`, "signer.example", 2222, K)).toBe("trusted");
    expect(verdict(`[*.example]:2222 ssh-ed25519 ${K}`, "signer.example", 2223, K)).toBe("unknown");
    expect(verdict(`* ssh-ed25519 ${K}`, "anything", 4242, K)).toBe("trusted");
  });

  it("negation wins over a positive match on the same line", () => {
    const text = `*.example,!bad.example ssh-ed25519 ${K}`;
    expect(verdict(text, "good.example", 22, K)).toBe("trusted");
    expect(verdict(text, "bad.example", 22, K)).toBe("unknown");
    // Negation alone never matches.
    expect(verdict(`!bad.example ssh-ed25519 ${K}`, "good.example", 22, K)).toBe("unknown");
    // The [host]:22 alias must not bypass a negation.
    expect(verdict(`*,!bad.example ssh-ed25519 ${K}`, "bad.example", 22, K)).toBe("unknown");
  });

  it("@revoked overrides a line that trusts the key", () => {
    const text = [`signer.example ssh-ed25519 ${K}`, `@revoked * ssh-ed25519 ${K}`].join("\n");
    expect(verdict(text, "signer.example", 22, K)).toBe("revoked");
    // Order does not matter.
    const reversed = [`@revoked * ssh-ed25519 ${K}`, `signer.example ssh-ed25519 ${K}`].join("\n");
    expect(verdict(reversed, "signer.example", 22, K)).toBe("revoked");
    // A revocation of another key does not affect this one.
    const other = [`signer.example ssh-ed25519 ${K}`, `@revoked * ssh-ed25519 ${OTHER_KEY}`].join("\n");
    expect(verdict(other, "signer.example", 22, K)).toBe("trusted");
  });

  it("@revoked honours its host patterns (as OpenSSH)", () => {
    const text = [`* ssh-ed25519 ${K}`, `@revoked old.example ssh-ed25519 ${K}`].join("\n");
    expect(verdict(text, "old.example", 22, K)).toBe("revoked");
    expect(verdict(text, "new.example", 22, K)).toBe("trusted");
  });

  it("mismatch: the host is known with another key", () => {
    const text = [`signer.example ssh-ed25519 ${OTHER_KEY}`, `@cert-authority signer.example ssh-ed25519 ${K}`].join(
      "\n",
    );
    expect(verdict(text, "signer.example", 22, K)).toBe("mismatch");
  });

  it("comments, blank lines, CRLF and trailing comments", () => {
    const text = `# comment\n\n   \r\nsigner.example ssh-ed25519 ${K} root@host with spaces\r\n`;
    const parsed = parseKnownHosts(text);
    expect(parsed.entries).toHaveLength(1);
    expect(parsed.entries[0]?.line).toBe(4);
    expect(parsed.skipped).toEqual([]);
    expect(verdict(text, "signer.example", 22, K)).toBe("trusted");
  });

  it("malformed lines are skipped and reported", () => {
    const text = [
      "onlyhost",
      `@weird signer.example ssh-ed25519 ${K}`,
      `signer.example ssh-ed25519 not*base64`,
      `signer.example ssh-rsa ${K}`,
      `|1|short|short ssh-ed25519 ${K}`,
      `,signer.example ssh-ed25519 ${K}`,
      `good.example ssh-ed25519 ${K}`,
    ].join("\n");
    const parsed = parseKnownHosts(text);
    expect(parsed.entries.map((e) => e.line)).toEqual([7]);
    expect(parsed.skipped.map((s) => s.line)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(parsed.skipped[3]?.reason).toBe("key type does not match the key");
  });

  it("glob matcher edge cases", () => {
    expect(globMatch("abc", "a*c")).toBe(true);
    expect(globMatch("ac", "a*c")).toBe(true);
    expect(globMatch("abcbc", "a*bc")).toBe(true);
    expect(globMatch("abcb", "a*bc")).toBe(false);
    expect(globMatch("", "*")).toBe(true);
    expect(globMatch("", "?")).toBe(false);
    expect(globMatch("a".repeat(5000) + "b", "*a*a*a*a*a*c")).toBe(false);
  });

  it("names and fingerprints", () => {
    expect(knownHostName("Signer.Example", 22)).toBe("signer.example");
    expect(knownHostName("::1", 2222)).toBe("[::1]:2222");
    // GitHub's published ed25519 host key fingerprint.
    expect(describeHostKey(blob(GITHUB_KEY))).toBe("ssh-ed25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU");
  });

  it("prefers host key algorithms known for the host", () => {
    const entries = parseKnownHosts(`signer.example ssh-rsa ${RSA_KEY}\nother.example ssh-ed25519 ${K}`).entries;
    expect(hostKeyAlgorithmsFor(entries, "signer.example", 22).slice(0, 2)).toEqual(["rsa-sha2-512", "rsa-sha2-256"]);
    expect(hostKeyAlgorithmsFor(entries, "other.example", 22)[0]).toBe("ssh-ed25519");
    expect(hostKeyAlgorithmsFor(entries, "signer.example", 22)).not.toContain("ssh-rsa");
  });
});

// An ssh-rsa blob: correct type prefix, arbitrary key material (only the type is read here).
const RSA_KEY =
  "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDGp4nPSSLjoDLq6uw5WL/F4Wc3cukZ7gs9ErQPZFjOu8hLpMBDJWZ1IcFuaQm7d5m3O1D+Rdq2sCStmpIgQq8NwQoehHwBtZVOSmEcbQ7AWy6SmLGZEXLgs6BsU7GvUFdDQ6kcpiQE9RbEcZG6E+a3W9qAzXgnf6dw7Y9hYqhqkQ==";

describe("known_hosts: files", () => {
  const dir = mkdtempSync(join(tmpdir(), "signstar-kh-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("agrees with ssh-keygen -H and -F on a hashed file", async () => {
    const keyPath = join(dir, "hostkey");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", keyPath]);
    const pub = readFileSync(`${keyPath}.pub`, "utf8").trim().split(" ");
    const kh = join(dir, "kh-hashed");
    writeFileSync(kh, `[127.0.0.1]:2022 ${pub[0]} ${pub[1]}\nsigner.example ${pub[0]} ${pub[1]}\n`);
    execFileSync("ssh-keygen", ["-H", "-f", kh], { stdio: "ignore" });
    const text = readFileSync(kh, "utf8");
    expect(text).not.toContain("127.0.0.1");
    expect(text).not.toContain("signer.example");
    const entries = await loadKnownHosts(kh);
    expect(entries).toHaveLength(2);
    const key = blob(pub[1] ?? "");
    expect(hostKeyVerdict(entries, "127.0.0.1", 2022, key)).toBe("trusted");
    expect(hostKeyVerdict(entries, "signer.example", 22, key)).toBe("trusted");
    expect(hostKeyVerdict(entries, "127.0.0.1", 22, key)).toBe("unknown");
    // ssh-keygen -F agrees on both names.
    expect(execFileSync("ssh-keygen", ["-F", "[127.0.0.1]:2022", "-f", kh]).toString()).toContain("found: line 1");
  });

  it("refuses a missing file, a directory and an oversized file", async () => {
    await expect(readKnownHosts(join(dir, "missing"))).rejects.toThrow(/known_hosts file .*missing cannot be opened: no such file/);
    const sub = join(dir, "sub");
    mkdirSync(sub);
    await expect(readKnownHosts(sub)).rejects.toBeInstanceOf(ClientConfigError);
    const big = join(dir, "big");
    writeFileSync(big, Buffer.alloc(MAX_KNOWN_HOSTS_BYTES + 1, 0x23));
    await expect(readKnownHosts(big)).rejects.toThrow(/larger than/);
  });
});
