/** A self-signed TLS certificate for the stand-in (CN keyfender, SAN localhost/127.0.0.1), made with openssl. */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
  /** Lowercase hex SHA-256 of the DER certificate. */
  readonly fingerprint: string;
}

export function selfSignedCertificate(): TlsMaterial {
  const dir = mkdtempSync(join(tmpdir(), "nethsm-standin-tls-"));
  try {
    execFileSync(
      "openssl",
      [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2",
        "-subj", "/CN=keyfender", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const key = readFileSync(join(dir, "key.pem"), "utf8");
    const cert = readFileSync(join(dir, "cert.pem"), "utf8");
    const fingerprint = new X509Certificate(cert).fingerprint256.replace(/:/g, "").toLowerCase();
    return { key, cert, fingerprint };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
