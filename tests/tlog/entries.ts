/** Deterministic signature entries for the log tests (and the crash child): entry i is a function of i alone. */
import { createHash } from "node:crypto";
import type { SignatureEntry } from "../../lib/tlog/entry.js";

export function testEntry(i: number, user = "tlogtest"): SignatureEntry {
  return {
    kind: "signature",
    key: "ab".repeat(20),
    digest: createHash("sha512").update(`entry ${i}`).digest("hex"),
    created: 1_700_000_000 + i,
    user,
    packet: createHash("sha256").update(`packet ${i}`).digest("hex"),
  };
}
