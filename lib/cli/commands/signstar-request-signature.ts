import type { CommandSpec, OptionSpec } from "../command.js";

const file = { name: "FILE", description: "the file to sign" };
const files = { name: "FILE", description: "the files to sign (one or more)", variadic: true };
const sendOptions = [
  { name: "host", type: "string", value: "HOST", required: true, description: "the signing host" },
  { name: "port", type: "number", value: "PORT", default: 22, description: "its SSH port" },
  { name: "user", type: "string", value: "USER", required: true, description: "the SSH user (the host maps it to a signing key)" },
  { name: "identity", type: "string", value: "KEY", description: "SSH private key file (unencrypted, mode 0600)", conflicts: ["agent"] },
  { name: "agent", type: "boolean", description: "authenticate with the ssh-agent at $SSH_AUTH_SOCK", conflicts: ["identity"] },
  { name: "known-hosts", type: "string", value: "FILE", required: true, description: "the OpenSSH known_hosts file the host key must be in" },
  { name: "output", type: "string", value: "FILE", description: "the signature file (default FILE.sig, or FILE.asc with --armor)" },
  { name: "armor", type: "boolean", default: false, description: "write the ASCII-armored signature" },
  { name: "force", type: "boolean", default: false, description: "replace an existing output file" },
  { name: "timeout", type: "number", value: "SECONDS", default: 60, description: "time limit for each file's exchange with the host, from sending the request to the signature (hashing the file before it is not limited: Ctrl-C stops it)" },
  { name: "connect-timeout", type: "number", value: "SECONDS", default: 10, description: "limit for connecting, the SSH handshake and authentication" },
  { name: "parallel", type: "number", value: "N", default: 8, description: "with several files: requests in flight on the one SSH connection (1 to 64; the host allows 16)" },
  { name: "fail-fast", type: "boolean", default: false, description: "with several files: start no further file after the first failure" },
] as const satisfies readonly OptionSpec[];

const logOptions = [
  sendOptions[0],
  sendOptions[1],
  { name: "user", type: "string", value: "USER", required: true, description: "the host's log_reader user" },
  sendOptions[3],
  sendOptions[4],
  sendOptions[5],
  { name: "log-key", type: "string", value: "VKEY", description: "the log's verifier key line <origin>+<key id>+<key> (signstar-configure prints it)", conflicts: ["log-key-file"] },
  { name: "log-key-file", type: "string", value: "FILE", description: "a file holding the verifier key line (e.g. a copy of the host's log.vkey)", conflicts: ["log-key"] },
  { name: "checkpoints-dir", type: "string", value: "DIR", description: "where the last checkpoint seen of each host and log is kept (default $XDG_STATE_HOME/signstar/log-checkpoints, else ~/.local/state/signstar/log-checkpoints)" },
  { name: "timeout", type: "number", value: "SECONDS", default: 60, description: "time limit for fetching each log file" },
  sendOptions[10],
  { name: "parallel", type: "number", value: "N", default: 8, description: "log files fetched at once on the one SSH connection (1 to 64; the host allows 16)" },
] as const satisfies readonly OptionSpec[];

export const command = {
  name: "signstar-request-signature",
  kind: "client",
  summary: "request an OpenPGP signature for a file from a Signstar signing host",
  description:
    "prepare hashes FILE and prints the signing request. send hashes FILE, sends the request over SSH (the host key checked against " +
    "--known-hosts), checks that the answer is one OpenPGP v4 SHA-512 signature over this file, and writes it to FILE.sig (binary), or " +
    "FILE.asc with --armor, or --output; it prints the path it wrote. The file never leaves this machine: the host sees only the hasher " +
    "state. Errors are one line on stderr; nothing is printed on stdout and no output file is left behind. With several files, send uses " +
    "one SSH connection for all of them (one request per file, --parallel at once, hashing overlapping signing), prints each path as its " +
    "file is signed, one line per failed file and a summary line on stderr, and exits 0 only if every file was signed (else with the first " +
    "failed file's code); a failed file does not stop the others unless --fail-fast. verify-log fetches the signing log's checkpoint, " +
    "tiles and the entry bundle the signature's log notation names from the host's log_reader user (one file per SSH exec) and checks " +
    "offline: the checkpoint's signature by the log's verifier key, its consistency with the last checkpoint seen of that host and log " +
    "(a fork or rollback is refused, exit 5), the entry's inclusion proof, that the entry is this signature packet and (with FILE) this " +
    "file's SHA-512; it prints one line and keeps the new checkpoint.",
  synopsis: [
    "prepare FILE",
    "send --host HOST [--port 22] --user USER (--identity KEY | --agent) --known-hosts FILE [--output FILE] [--armor] [--force] [--timeout 60] [--connect-timeout 10] [--parallel 8] [--fail-fast] FILE…",
    "verify-log --host HOST [--port 22] --user USER (--identity KEY | --agent) --known-hosts FILE (--log-key VKEY | --log-key-file FILE) [--checkpoints-dir DIR] [--timeout 60] [--connect-timeout 10] [--parallel 8] SIGNATURE [FILE]",
  ],
  options: [],
  subcommands: [
    { name: "prepare", summary: "hash FILE and print the signing request JSON", synopsis: "prepare FILE", options: [], positionals: [file] },
    {
      name: "send",
      summary: "request signatures for one or more files from a signing host over one SSH connection",
      synopsis:
        "send --host HOST [--port 22] --user USER (--identity KEY | --agent) --known-hosts FILE [--output FILE] [--armor] [--force] [--timeout 60] [--connect-timeout 10] [--parallel 8] [--fail-fast] FILE…",
      options: sendOptions,
      positionals: [files],
      oneOf: [["identity", "agent"]],
    },
    {
      name: "verify-log",
      summary: "prove, offline, that a signature is in the host's signing log, fetching the log from its log_reader over SSH",
      synopsis:
        "verify-log --host HOST [--port 22] --user USER (--identity KEY | --agent) --known-hosts FILE (--log-key VKEY | --log-key-file FILE) [--checkpoints-dir DIR] [--timeout 60] [--connect-timeout 10] [--parallel 8] SIGNATURE [FILE]",
      options: logOptions,
      positionals: [
        { name: "SIGNATURE", description: "the signature file (binary .sig or armored .asc)" },
        { name: "FILE", description: "the signed file: the log entry's digest must be its SHA-512", optional: true },
      ],
      oneOf: [["identity", "agent"], ["log-key", "log-key-file"]],
    },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "BadInput", "Config", "Denied", "Remote", "Interrupted"],
  files: [{ path: "~/.ssh/known_hosts", description: "a typical --known-hosts file (any file may be given)" }],
  environment: [{ name: "SSH_AUTH_SOCK", description: "the ssh-agent socket used with --agent" }],
  examples: [
    { command: "signstar-request-signature send --host signer.example --user alice --agent --known-hosts ~/.ssh/known_hosts pkg.tar.zst", description: "sign pkg.tar.zst into pkg.tar.zst.sig" },
    { command: "signstar-request-signature prepare pkg.tar.zst", description: "print the request only" },
    {
      command: "signstar-request-signature verify-log --host signer.example --user log-reader --agent --known-hosts ~/.ssh/known_hosts --log-key-file log.vkey pkg.tar.zst.sig pkg.tar.zst",
      description: "prove the signature is in the host's signing log",
    },
  ],
  seeAlso: ["signstar-download-signature(1)", "ssh(1)", "gpg(1)"],
  abortOn: ["SIGINT"],
} as const satisfies CommandSpec;
