/**
 * Bash completion scripts rendered from the command tables (the data --help and the man pages come from):
 * subcommands, the options of the subcommand on the line (or of the command), file names after options whose
 * value is a file or directory and for positional arguments. Plain bash (`complete -F`, `compgen`), no
 * bash-completion helpers needed; installed as /usr/share/bash-completion/completions/<name>, which
 * bash-completion loads on first use.
 */
import { COMMON_OPTIONS, type CommandSpec, type OptionSpec } from "./command.js";
import { allOptions } from "./parse.js";

/** Values that name files or directories complete as such; other values (HOST, N) get no suggestions. */
const FILE_VALUES = new Set(["FILE", "KEY", "BACKUP"]);
const DIR_VALUES = new Set(["DIR"]);

/** Option words (`--name`, `-s`) of a list of options, and the common ones. */
function words(options: readonly OptionSpec[]): string {
  return [...options, ...COMMON_OPTIONS].flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])]).join(" ");
}

/** A shell function name for a command (`signstar-config` → `_signstar_config`). */
export function completionFunction(spec: CommandSpec): string {
  return `_${spec.name.replace(/[^A-Za-z0-9]/g, "_")}`;
}

/** Words may contain only characters that need no quoting in a bash word list. */
function checkWord(word: string): string {
  if (!/^[A-Za-z0-9_.\-|]+$/.test(word)) throw new Error(`completion: "${word}" cannot be used unquoted`);
  return word;
}

/** The completion script of one executable (and its aliases). */
export function renderBashCompletion(spec: CommandSpec): string {
  const fn = completionFunction(spec);
  const options = allOptions(spec);
  const valued = (pred: (o: OptionSpec) => boolean): string =>
    options
      .filter((o) => o.type !== "boolean" && pred(o))
      .flatMap((o) => [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])])
      .map(checkWord)
      .join("|");
  const fileOpts = valued((o) => FILE_VALUES.has(o.value ?? ""));
  const dirOpts = valued((o) => DIR_VALUES.has(o.value ?? ""));
  const otherOpts = valued((o) => !FILE_VALUES.has(o.value ?? "") && !DIR_VALUES.has(o.value ?? ""));
  const subs = (spec.subcommands ?? []).map((s) => checkWord(s.name));
  const lines: string[] = [
    `# bash completion for ${spec.name}; generated from lib/cli/commands/${spec.name}.ts by lib/cli/completion.ts.`,
    `${fn}() {`,
    `  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} sub= i`,
    "  COMPREPLY=()",
  ];
  if (subs.length > 0) {
    lines.push(
      "  for ((i = 1; i < COMP_CWORD; i++)); do",
      `    case \${COMP_WORDS[i]} in ${subs.join("|")}) sub=\${COMP_WORDS[i]}; break ;; esac`,
      "  done",
    );
  }
  lines.push("  case $prev in");
  if (fileOpts !== "") lines.push(`    ${fileOpts}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`);
  if (dirOpts !== "") lines.push(`    ${dirOpts}) COMPREPLY=($(compgen -d -- "$cur")); return ;;`);
  if (otherOpts !== "") lines.push(`    ${otherOpts}) return ;;`);
  lines.push("  esac");
  lines.push("  if [[ $cur == -* ]]; then");
  if (subs.length > 0) {
    lines.push("    case $sub in");
    for (const s of spec.subcommands ?? []) lines.push(`      ${s.name}) COMPREPLY=($(compgen -W "${words(s.options).split(" ").map(checkWord).join(" ")}" -- "$cur")) ;;`);
    lines.push(`      *) COMPREPLY=($(compgen -W "${words(spec.options).split(" ").map(checkWord).join(" ")}" -- "$cur")) ;;`, "    esac");
  } else {
    lines.push(`    COMPREPLY=($(compgen -W "${words(spec.options).split(" ").map(checkWord).join(" ")}" -- "$cur"))`);
  }
  lines.push("    return", "  fi");
  if (subs.length > 0) {
    lines.push(`  if [[ -z $sub ]]; then COMPREPLY=($(compgen -W "${subs.join(" ")}" -- "$cur")); return; fi`);
  }
  const takesFiles = (spec.positionals ?? []).length > 0 || (spec.subcommands ?? []).some((s) => s.positionals.length > 0);
  if (takesFiles) lines.push(`  COMPREPLY=($(compgen -f -- "$cur"))`);
  lines.push("}");
  const names = [spec.name, ...(spec.aliases ?? [])].map(checkWord);
  lines.push(`complete -F ${fn} -o filenames ${names.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

/** The executables that get a completion script: the ones people type (not the ForceCommands sshd runs). */
export function hasCompletion(spec: CommandSpec): boolean {
  return spec.kind !== "server";
}
