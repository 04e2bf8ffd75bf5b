#!/usr/bin/env node
// ForceCommand of key_certificates users: all signing keys' OpenPGP certificates as one armored keyring, or
// the JSON index when SSH_ORIGINAL_COMMAND is exactly "json" (`ssh user@host json`; "keyring" or nothing gives
// the keyring; anything else is refused). Run locally, --json selects the index. Exit codes: README.md.
import { certificateMode, downloadKeyCertificates } from "../lib/tools/download-key-certificates.js";
import { runTool, toolContext } from "../lib/tools/force-command.js";

const program = "signstar-download-key-certificates";
const options = { config: { type: "string" }, json: { type: "boolean" } } as const;

runTool(program, { options, synopsis: `${program} [--config FILE] [--json]` }, async (args) => {
  const mode = certificateMode(process.env.SSH_ORIGINAL_COMMAND, args.json === true);
  return downloadKeyCertificates({ ...toolContext(program, args.config), mode });
});
