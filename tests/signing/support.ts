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

