// Shell completion scripts for `guarita` (and `kubectl-guarita`), generated from the commands'
// own --help texts so that a new flag completes without a second list to keep in step.

export interface CompletionCommand { name: string; summary: string; flags: string[]; subcommands: string[] }

/** The flags (`--name`, `-x`) and the subcommands a command's --help text lists. */
export function fromHelp(name: string, summary: string, help: string): CompletionCommand {
  const long = [...help.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]);
  const short = [...help.matchAll(/(?<![\w-])-[a-zA-Z](?=[,\s\]])/g)].map((m) => m[0]);
  const subcommands: string[] = [];
  const section = /^subcommands:\n((?: {2}\S.*\n?)+)/m.exec(help);
  for (const line of section?.[1]?.split('\n') ?? []) {
    const m = /^ {2}([a-z][a-z-]*)\s{2,}/.exec(line);
    if (m?.[1] !== undefined) subcommands.push(m[1]);
  }
  return { name, summary, flags: [...new Set([...long, ...short])].sort(), subcommands };
}

const words = (list: readonly string[]): string => list.join(' ');
const single = (s: string): string => s.replace(/'/g, `'\\''`);

export function bashScript(commands: readonly CompletionCommand[]): string {
  const cases = commands.map((c) => `    ${c.name}) words='${words([...c.subcommands, ...c.flags])}' ;;`).join('\n');
  return `# guarita completion for bash. Load it in this shell:  source <(guarita completion bash)
# or for every shell:  guarita completion bash > /etc/bash_completion.d/guarita
_guarita() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words=''
  if [ "$COMP_CWORD" -eq 1 ]; then
    mapfile -t COMPREPLY < <(compgen -W '${words([...commands.map((c) => c.name), '--help', '--version'])}' -- "$cur")
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  # No match (a file, a namespace): complete -o default falls back to file names.
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -o default -F _guarita guarita
complete -o default -F _guarita kubectl-guarita
`;
}

export function zshScript(commands: readonly CompletionCommand[]): string {
  const described = commands.map((c) => `    '${c.name}:${single(c.summary).replace(/:/g, '\\:')}'`).join('\n');
  const cases = commands.map((c) => `    ${c.name}) compadd -- ${words([...c.subcommands, ...c.flags])} ;;`).join('\n');
  return `#compdef guarita kubectl-guarita
# guarita completion for zsh. Load it in this shell:  source <(guarita completion zsh)
# or for every shell: guarita completion zsh > "\${fpath[1]}/_guarita"
_guarita() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe 'guarita command' commands
    return
  fi
  case "\${words[2]}" in
${cases}
  esac
  _files
}
if [ "\${funcstack[1]}" = "_guarita" ]; then
  _guarita "$@"
else
  compdef _guarita guarita kubectl-guarita
fi
`;
}

export function fishScript(commands: readonly CompletionCommand[]): string {
  const lines = ['# guarita completion for fish:  guarita completion fish > ~/.config/fish/completions/guarita.fish'];
  for (const bin of ['guarita', 'kubectl-guarita']) {
    lines.push(`complete -c ${bin} -l version -n '__fish_use_subcommand' -d 'print the version'`);
    for (const c of commands) {
      lines.push(`complete -c ${bin} -f -n '__fish_use_subcommand' -a ${c.name} -d '${single(c.summary).replace(/'/g, "\\'")}'`);
      const when = `-n '__fish_seen_subcommand_from ${c.name}'`;
      for (const s of c.subcommands) lines.push(`complete -c ${bin} -f ${when} -a ${s}`);
      for (const f of c.flags) lines.push(f.startsWith('--') ? `complete -c ${bin} ${when} -l ${f.slice(2)}` : `complete -c ${bin} ${when} -s ${f.slice(1)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What completes the last of `args` (the words after `guarita`, the last one partial): commands
 * first, then the command's subcommands and flags. kubectl's plugin completion calls
 * `kubectl_complete-guarita ARGS...` and reads these, one per line, then a directive line.
 */
export function candidates(commands: readonly CompletionCommand[], args: readonly string[]): string[] {
  const partial = args.at(-1) ?? '';
  const words = args.length <= 1
    ? [...commands.map((c) => c.name), '--help', '--version']
    : (() => { const c = commands.find((x) => x.name === args[0]); return c === undefined ? [] : [...c.subcommands, ...c.flags]; })();
  return words.filter((w) => w.startsWith(partial));
}
