/** Shared helpers for the signing tests. */
import { readFileSync } from "node:fs";

export function vectorText(name: string): string {
  return readFileSync(new URL(`./vectors/${name}`, import.meta.url), "utf8");
}

export function vectorJson(name: string): unknown {
  return JSON.parse(vectorText(name));
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "hex"));
}

/** What this Node's JSON.parse says about `text` (the parser's wording differs between Node versions). */
export function jsonParseError(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message.slice(0, 120);
  }
  throw new Error("JSON.parse accepted the text");
}
