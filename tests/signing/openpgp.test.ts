import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { OpenPgpError, SignerError, SigningInputError } from "../../lib/signing/errors.js";
import { armor, crc24, dearmor } from "../../lib/signing/openpgp/armor.js";
import { armorCertificate, createCertificate, parseCertificate } from "../../lib/signing/openpgp/certificate.js";
import { keyIdOf, toHex, v4Fingerprint } from "../../lib/signing/openpgp/fingerprint.js";
import { encodeLength, mpi, packet, readPackets } from "../../lib/signing/openpgp/packet.js";
import { signHasherState } from "../../lib/signing/openpgp/signature.js";
import { parseSignature } from "../support/signature-parse.js";
import { Sha512State } from "../../lib/signing/sha512-state.js";
import type { Signer } from "../../lib/signing/signer.js";
import { softwareSigner } from "../support/software-signer.js";
import { hex, vectorJson } from "./support.js";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("armor", () => {
  it("CRC-24 check values", () => {
    expect(crc24(new Uint8Array(0))).toBe(0xb704ce);
    expect(crc24(enc("123456789"))).toBe(0x21cf02);
  });

  it("round-trips with 64-column lines and a checksum line", () => {
    const data = Uint8Array.from({ length: 200 }, (_, i) => i);
    const text = armor("SIGNATURE", data);
    const lines = text.split("\n");
    expect(lines[0]).toBe("-----BEGIN PGP SIGNATURE-----");
    expect(lines[1]).toBe("");
    expect(lines[2]?.length).toBe(64);
    expect(lines.at(-3)).toMatch(/^=[A-Za-z0-9+/]{4}$/);
    expect(lines.at(-2)).toBe("-----END PGP SIGNATURE-----");
    expect(lines.at(-1)).toBe("");
    const back = dearmor(text);
    expect(back.type).toBe("SIGNATURE");
    expect(hex(back.data)).toBe(hex(data));
    // CRLF line ends, armor headers and no checksum are accepted too
    const variant = text.replace("\n\n", "\nComment: hello\n\n").replace(/\n=[^\n]+\n/, "\n").replace(/\n/g, "\r\n");
    expect(hex(dearmor(variant).data)).toBe(hex(data));
  });

  const good = armor("SIGNATURE", enc("hello world, this is a test"));
  const cases: [string, string, string][] = [
    ["no BEGIN line", "hello", "armor: no -----BEGIN PGP ...----- line"],
    ["missing END", good.replace("-----END PGP SIGNATURE-----", ""), "armor: missing -----END PGP SIGNATURE----- line"],
    ["END of another type", good.replace("END PGP SIGNATURE", "END PGP MESSAGE"), "armor: END line does not match BEGIN PGP SIGNATURE"],
    ["bad checksum", good.replace(/\n=.{4}\n/, "\n=AAAA\n"), "armor: CRC-24 checksum mismatch"],
    ["invalid base64", good.replace("\n\n", "\n\n!!!!"), "armor: body is not valid base64"],
    ["data after checksum", good.replace(/(\n=.{4}\n)/, "$1AAAA\n"), "armor: data after the checksum line"],
  ];
  for (const [name, text, message] of cases) {
    it(`rejects: ${name}`, () => {
      expect(() => dearmor(text)).toThrow(OpenPgpError);
      expect(() => dearmor(text)).toThrow(message);
    });
  }
});

describe("packet framing", () => {
  it("encodes lengths in 1, 2 and 5 octets", () => {
    expect([...encodeLength(191)]).toEqual([191]);
    expect([...encodeLength(192)]).toEqual([192, 0]);
    expect([...encodeLength(8383)]).toEqual([223, 255]);
    expect([...encodeLength(8384)]).toEqual([255, 0, 0, 0x20, 0xc0]);
  });

  it("encodes MPIs without leading zeros and with exact bit counts", () => {
    expect(hex(mpi(Uint8Array.from([0, 0, 1])))).toBe("000101");
    expect(hex(mpi(Uint8Array.from([0x80, 0])))).toBe("00108000");
    expect(hex(mpi(new Uint8Array(0)))).toBe("0000");
    expect(hex(mpi(Uint8Array.from([0x40, ...new Uint8Array(32)]))).slice(0, 4)).toBe("0107"); // 263 bits, EdDSA point
  });

  it("reads new- and old-format packets and rejects partial lengths", () => {
    const body = enc("uid");
    const old = Uint8Array.from([0x80 | (13 << 2), body.length, ...body]); // old format, 1-byte length
    const old2 = Uint8Array.from([0x80 | (13 << 2) | 1, 0, body.length, ...body]); // old format, 2-byte length
    const big = new Uint8Array(10000);
    const packets = readPackets(Uint8Array.from([...packet(13, body), ...old, ...old2, ...packet(2, big)]));
    expect(packets.map((p) => [p.tag, p.body.length])).toEqual([[13, 3], [13, 3], [13, 3], [2, 10000]]);
    expect(() => readPackets(Uint8Array.from([0xcd, 0xe1, 0, 0]))).toThrow("partial body lengths are not supported");
    expect(() => readPackets(Uint8Array.from([0x80 | (13 << 2) | 3, 1]))).toThrow("indeterminate length is not supported");
    expect(() => readPackets(Uint8Array.from([0x0d, 1]))).toThrow("invalid header byte 0xd");
    expect(() => readPackets(Uint8Array.from([0xcd, 5, 1]))).toThrow("OpenPGP packet: truncated");
  });
});

describe("certificates", () => {
  it("parses Signstar's NetHSM mock certificate (EdDSA primary, cv25519 subkey)", () => {
    const v = vectorJson("signstar-mock-cert.json") as { base64: string; fingerprint: string; created: number; userIds: string[] };
    const cert = parseCertificate(new Uint8Array(Buffer.from(v.base64, "base64")));
    expect(toHex(cert.fingerprint)).toBe(v.fingerprint);
    expect(toHex(cert.keyId)).toBe(v.fingerprint.slice(-16));
    expect(cert.created.getTime()).toBe(v.created * 1000);
    expect(cert.userIds).toEqual(v.userIds);
    expect(cert.publicKey.kind).toBe("ed25519");
    expect(toHex(v4Fingerprint(cert.publicKey, cert.created))).toBe(v.fingerprint);
  });

  it("creates a certificate whose self-signatures carry Signstar's subpackets", async () => {
    const signer = softwareSigner(generateKeyPairSync("ed25519").privateKey);
    const created = new Date("2025-03-27T14:31:39Z");
    const bytes = await createCertificate(signer, { userIds: ["a <a@example.org>", "b"], created });
    const cert = parseCertificate(bytes);
    expect(cert.userIds).toEqual(["a <a@example.org>", "b"]);
    expect(hex(cert.fingerprint)).toBe(hex(v4Fingerprint(signer.publicKey, created)));
    expect(hex(cert.keyId)).toBe(hex(keyIdOf(cert.fingerprint)));
    expect(hex(cert.bytes)).toBe(hex(bytes));
    // armored input is accepted too
    expect(hex(parseCertificate(enc(armorCertificate(bytes))).fingerprint)).toBe(hex(cert.fingerprint));
    const sigs = readPackets(bytes).filter((p) => p.tag === 2).map((p) => parseSignature(packet(2, p.body)));
    expect(sigs.length).toBe(2);
    for (const [i, sig] of sigs.entries()) {
      expect(sig.type).toBe(0x13);
      expect(sig.hashAlgorithm).toBe(10);
      expect(sig.publicKeyAlgorithm).toBe(22);
      expect(sig.created?.getTime()).toBe(created.getTime());
      expect(hex(sig.issuerFingerprint ?? new Uint8Array())).toBe(hex(cert.fingerprint));
      const byType = new Map(sig.hashed.map((s) => [s.type, hex(s.body)]));
      expect(byType.get(27)).toBe("02"); // key flags: sign data only
      expect(byType.get(21)).toBe("0a"); // preferred hash: SHA-512
      expect(byType.get(30)).toBe("01"); // features
      expect(byType.get(16)).toBe(hex(cert.keyId));
      expect(byType.has(9)).toBe(false); // no key expiration
      expect(byType.get(25)).toBe(i === 0 ? "01" : undefined); // primary user ID on the first only
      expect(sig.mpis.length).toBe(2);
    }
  });

  it("rejects bad user ID lists", async () => {
    const signer = softwareSigner(generateKeyPairSync("ed25519").privateKey);
    const created = new Date(0);
    await expect(createCertificate(signer, { userIds: [], created })).rejects.toThrow("at least one user ID is required");
    await expect(createCertificate(signer, { userIds: ["x", "x"], created })).rejects.toThrow('duplicate user ID "x"');
    await expect(createCertificate(signer, { userIds: ["a\nb"], created })).rejects.toThrow("without control characters");
  });

  const keyBody = (version: number, algo: number, rest: number[]): Uint8Array => Uint8Array.from([version, 0, 0, 0, 1, algo, ...rest]);
  const ed = Uint8Array.from([9, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01, 0x01, 0x07, 0x40, ...new Uint8Array(32).fill(7)]);
  const cases: [string, Uint8Array, string][] = [
    ["empty input", new Uint8Array(0), "certificate is empty"],
    ["user ID first", packet(13, enc("x")), "certificate: first packet has tag 13, not a public key (6)"],
    ["v3 key", packet(6, keyBody(3, 1, [])), "public key packet: version 3 is not supported (only v4)"],
    ["v6 key", packet(6, keyBody(6, 27, [])), "public key packet: version 6 is not supported"],
    ["ECDH key", packet(6, keyBody(4, 18, [])), "public key packet: algorithm 18 is not supported"],
    ["EdDSA on another curve", packet(6, keyBody(4, 22, [3, 1, 2, 3, 0, 7, 0x40])), "EdDSA curve is not Ed25519"],
    ["ECDSA on secp256k1", packet(6, keyBody(4, 19, [5, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0, 3, 4])), "ECDSA curve is not P-256, P-384 or P-521"],
    ["truncated key", packet(6, keyBody(4, 22, [9, 0x2b, 0x06])), "public key packet: truncated"],
    ["trailing data in key", packet(6, Uint8Array.from([...keyBody(4, 22, [...ed]), 0])), "public key packet: trailing data"],
    ["MPI bit count lies", packet(6, keyBody(4, 22, [...ed.subarray(0, 10), 0x01, 0x08, ...ed.subarray(12)])), "MPI bit count does not match"],
    ["two primary keys", Uint8Array.from([...packet(6, keyBody(4, 22, [...ed])), ...packet(6, keyBody(4, 22, [...ed]))]), "more than one primary key"],
    ["armored signature", enc(armor("SIGNATURE", enc("x"))), "certificate: armored SIGNATURE is not a PUBLIC KEY BLOCK"],
  ];
  for (const [name, bytes, message] of cases) {
    it(`parseCertificate rejects: ${name}`, () => {
      expect(() => parseCertificate(bytes)).toThrow(OpenPgpError);
      expect(() => parseCertificate(bytes)).toThrow(message);
    });
  }
  it("parseCertificate accepts the minimal EdDSA key used above", () => {
    expect(parseCertificate(packet(6, keyBody(4, 22, [...ed]))).publicKey).toEqual({ kind: "ed25519", a: new Uint8Array(32).fill(7) });
  });
});

describe("signHasherState", () => {
  const state = Sha512State.create().update(enc("data"));
  const created = new Date("2025-01-01T00:00:00Z");

  it("refuses a signer whose key is not the certificate's", async () => {
    const a = softwareSigner(generateKeyPairSync("ed25519").privateKey);
    const b = softwareSigner(generateKeyPairSync("ed25519").privateKey);
    const cert = parseCertificate(await createCertificate(a, { userIds: ["a"], created }));
    await expect(signHasherState(state, b, cert, { created })).rejects.toThrow(SignerError);
    await expect(signHasherState(state, b, cert, { created })).rejects.toThrow(`is not the primary key of certificate ${toHex(cert.fingerprint)}`);
  });

  it("refuses a creation time before the key's, and malformed notation names", async () => {
    const a = softwareSigner(generateKeyPairSync("ed25519").privateKey);
    const cert = parseCertificate(await createCertificate(a, { userIds: ["a"], created }));
    await expect(signHasherState(state, a, cert, { created: new Date(created.getTime() - 1000) })).rejects.toThrow("is before the key's creation time");
    await expect(signHasherState(state, a, cert, { created, notations: [{ name: "no-domain", value: "x" }] })).rejects.toThrow(SigningInputError);
    await expect(signHasherState(state, a, cert, { created, digestNotationName: "bad name@x" })).rejects.toThrow("must look like name@domain");
  });

  it("uses a configurable digest notation name and leaves the state usable", async () => {
    const a = softwareSigner(generateKeyPairSync("ed25519").privateKey);
    const cert = parseCertificate(await createCertificate(a, { userIds: ["a"], created }));
    const before = hex(state.toBytes());
    const sig = parseSignature(await signHasherState(state, a, cert, { created, digestNotationName: "file-sha512@example.org" }));
    expect(sig.notations.map((n) => n.name)).toEqual(["file-sha512@example.org"]);
    expect(hex(sig.notations[0]?.value ?? new Uint8Array())).toBe(hex(state.digest()));
    expect(sig.notations[0]?.humanReadable).toBe(false);
    expect(hex(state.toBytes())).toBe(before);
  });

  it("rejects signers that return malformed values", async () => {
    const real = softwareSigner(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    const cert = parseCertificate(await createCertificate(real, { userIds: ["a"], created }));
    const liar = (values: Uint8Array[]): Signer => ({ publicKey: real.publicKey, signDigest: async () => values });
    await expect(signHasherState(state, liar([new Uint8Array(32).fill(1)]), cert, { created })).rejects.toThrow("ecdsa P-256 signer returned 1 values, expected 2");
    await expect(signHasherState(state, liar([new Uint8Array(33).fill(1), new Uint8Array(32).fill(1)]), cert, { created })).rejects.toThrow("returned a value of 33 bytes (1..32 expected)");
    await expect(signHasherState(state, liar([new Uint8Array(32), new Uint8Array(32).fill(1)]), cert, { created })).rejects.toThrow("returned a value of 0 bytes");
  });
});
