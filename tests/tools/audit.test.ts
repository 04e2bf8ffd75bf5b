/**
 * Audit-log field injection: text a client or uploader chose (the caller's name as the tools see it, a field
 * name in a signing request, an update image's version) goes through every tool's refusal path, and each event
 * is exactly one well-formed entry: `<event>: key="value" …` with every value JSON-quoted, no line break or
 * control character anywhere, no field twice, and the quoted values decode to what was fed (sanitized).
 */
import { generateKeyPairSync } from "node:crypto";
import { chown, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../lib/caller/caller.js";
import { hostLayout } from "../../lib/layout/host-layout.js";
import { sanitize } from "../../lib/log/syslog.js";
import { downloadBackup } from "../../lib/tools/download-backup.js";
import { downloadKeyCertificates } from "../../lib/tools/download-key-certificates.js";
import { downloadMetrics } from "../../lib/tools/download-metrics.js";
import { confirmSecretShare, downloadSecretShare } from "../../lib/tools/download-secret-share.js";
import { downloadSignature } from "../../lib/tools/download-signature.js";
import { downloadWireGuard } from "../../lib/tools/download-wireguard.js";
import { uploadBackup } from "../../lib/tools/upload-backup.js";
import { uploadSecretShare } from "../../lib/tools/upload-secret-share.js";
import { uploadUpdate } from "../../lib/tools/upload-update.js";
import { makeUpdateImage } from "../support/nethsm-standin/index.js";
import { REPO_ROOT } from "../support/repo.js";
import { memorySink } from "../support/syslog.js";

/** Newlines, `=`, quotes, a backslash, an escape sequence, C1 (U+0085) and the Unicode line separators. */
const EVIL = 'evil\nuser=root outcome="ok" \\ \r\u001b[31m key=x\u0085next\u2028line\u2029end';
const config = { path: join(REPO_ROOT, "config", "example-full.toml"), env: {} };
const evilCaller: Caller = { uid: 54321, gid: 54321, name: EVIL };
const FIELD = /([a-z_0-9]+)="((?:[^"\\]|\\.)*)"/g;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signstar-audit-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The one entry of a run: well-formed, every value quoted; returns its event and decoded fields. */
function oneEntry(sink: ReturnType<typeof memorySink>): { event: string; fields: Record<string, string> } {
  expect(sink.entries).toHaveLength(1);
  const { severity, message } = sink.entries[0]!;
  expect(severity).toBe("warning");
  expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  const m = /^([a-z0-9 ]+): (.*)$/.exec(message);
  expect(m, message).not.toBeNull();
  // The field list is exactly a sequence of key="value" separated by single spaces.
  expect(m![2]!.replace(FIELD, "").replace(/ /g, ""), message).toBe("");
  const fields: Record<string, string> = {};
  for (const f of m![2]!.matchAll(FIELD)) {
    expect(fields[f[1]!], `field ${f[1]} twice in ${message}`).toBeUndefined();
    fields[f[1]!] = JSON.parse(`"${f[2]!}"`) as string;
  }
  expect(fields["outcome"]).toBe("error");
  expect(fields["reason"]).toBeDefined();
  return { event: m![1]!, fields };
}

const stdin = (data: string | Buffer = ""): Readable => Readable.from([Buffer.from(data)]);

describe("every tool's refusal is one well-formed audit entry, whatever the caller's name", () => {
  const runs: [string, (log: ReturnType<typeof memorySink>) => Promise<unknown>][] = [
    ["signature refused", (log) => downloadSignature({ stdin: stdin("{}"), caller: evilCaller, config, now: () => new Date(), log })],
    ["backup refused", (log) => downloadBackup({ caller: evilCaller, config, log })],
    ["backup upload refused", (log) => uploadBackup({ stdin: stdin(), caller: evilCaller, config, log })],
    ["update upload refused", (log) => uploadUpdate({ stdin: stdin(), caller: evilCaller, config, log })],
    ["metrics refused", (log) => downloadMetrics({ caller: evilCaller, config, log, now: () => new Date() })],
    ["key certificates refused", (log) => downloadKeyCertificates({ caller: evilCaller, config, log, mode: "keyring" })],
    ["wireguard public key refused", (log) => downloadWireGuard({ caller: evilCaller, config, log, root })],
    ["secret share download refused", (log) => downloadSecretShare({ caller: evilCaller, config, log, root, now: () => new Date(), write: async () => undefined })],
    ["secret share confirmation refused", (log) => confirmSecretShare({ caller: evilCaller, config, log, root, now: () => new Date(), code: "01234567" })],
    ["secret share upload refused", (log) => uploadSecretShare({ caller: evilCaller, config, log, root, now: () => new Date(), stdin: stdin("x\n") })],
  ];
  for (const [event, run] of runs) {
    it(event, async () => {
      const log = memorySink();
      await expect(run(log)).rejects.toThrow();
      const entry = oneEntry(log);
      expect(entry.event).toBe(event);
      expect(entry.fields["user"]).toBe(sanitize(EVIL));
    });
  }
});

describe("text a client chose, in the reason", () => {
  it("a signing request with a field name full of separators (download-signature)", async () => {
    const log = memorySink();
    const caller: Caller = { uid: 54321, gid: 54321, name: "alice" };
    const request = JSON.stringify({ version: "1.0.0", [EVIL]: 1 });
    await expect(downloadSignature({ stdin: stdin(request), caller, config, now: () => new Date(), log })).rejects.toThrow(/unknown field/);
    const entry = oneEntry(log);
    expect(entry.event).toBe("signature refused");
    expect(entry.fields).toMatchObject({ user: "alice", key: "-", sha512: "-" });
    expect(entry.fields["reason"]).toContain("evil");
    expect(entry.fields["reason"]).toContain("user=root");
  });

  it("an update image whose version is chosen by the uploader (upload-update)", async () => {
    const user = "nethsm-update-upload";
    const uid = 54322;
    const layout = hostLayout(root);
    for (const dir of layout.userStateChain(user)) await mkdir(dir, { recursive: true, mode: 0o755 });
    const uploads = layout.userState(user, "uploads");
    await mkdir(uploads, { mode: 0o700 });
    await chown(uploads, uid, uid);
    const image = makeUpdateImage(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, "notes", `1.0${EVIL}`);
    const log = memorySink();
    const caller: Caller = { uid, gid: uid, name: user };
    await expect(uploadUpdate({ stdin: stdin(image), caller, config, log, stateRoot: root, maxBytes: 64 * 1024 })).rejects.toThrow(/is not "major.minor"/);
    const entry = oneEntry(log);
    expect(entry.event).toBe("update upload refused");
    expect(entry.fields["user"]).toBe(user);
    expect(entry.fields["reason"]).toMatch(/^the update image version "1\.0evil .*" is not "major\.minor"$/);
  });
});
