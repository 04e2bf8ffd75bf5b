import { hostLayout } from "../../layout/host-layout.js";
import type { CommandSpec } from "../command.js";
import { CONFIG_OPTION, ENV_CONFIG, FILES_CONFIG } from "./common.js";

const live = hostLayout();

export const command = {
  name: "signstar-configure-build",
  kind: "admin",
  section: 8,
  summary: "derive Signstar's Unix users, tmpfiles.d entries, authorized_keys and sshd drop-ins from the configuration",
  description:
    "Creates and corrects (never deletes) a Unix user per mapping with its root-owned home and the state directories its role needs, " +
    "and writes the tmpfiles.d entries, authorized_keys files and sshd drop-ins (validated with sshd -t) that make each user run its " +
    "ForceCommand and nothing else. Idempotent: a second run finds nothing to do. Runs as root, except --root DIR (render below DIR) " +
    "and --dry-run.",
  synopsis: ["[--config FILE] [--root DIR] [--dry-run] [--bin-dir DIR]"],
  options: [
    CONFIG_OPTION,
    {
      name: "root",
      type: "string",
      value: "DIR",
      description:
        "write below DIR for a system that sees DIR at / (image builds): the files name the target's paths; accounts go into DIR's own etc/passwd (useradd --prefix DIR) if it has one, else the commands are printed",
    },
    { name: "dry-run", type: "boolean", default: false, description: "print what would be done, change nothing" },
    {
      name: "bin-dir",
      type: "string",
      value: "DIR",
      description:
        "where the Signstar executables are installed (the ForceCommands); without it, the directory the existing drop-ins name is kept, else /usr/bin. A directory without the executables is refused (a warning with --root)",
    },
  ],
  exitCodes: ["Ok", "Internal", "Usage", "Config", "Denied"],
  files: [
    ...FILES_CONFIG,
    { path: live.hardeningDropIn, description: "the base sshd hardening drop-in" },
    { path: live.userSshdDropIn("<user>"), description: "a user's Match block: key file, ForceCommand, no TTY or forwarding" },
    { path: live.userAuthorizedKeys("<user>"), description: "a user's one authorized key" },
    { path: live.userTmpfiles("<user>"), description: "a user's home and state directories" },
    { path: live.stateTmpfiles, description: "the host-wide state directories" },
  ],
  environment: [ENV_CONFIG],
  examples: [
    { command: "signstar-configure-build --dry-run", description: "show the changes" },
    { command: "signstar-configure-build --root /srv/image", description: "render into an image tree" },
  ],
  seeAlso: ["signstar-configure(8)", "signstar-config(1)", "sshd_config(5)", "tmpfiles.d(5)"],
} as const satisfies CommandSpec;
