// guarita completion bash|zsh|fish: prints the completion script, built from every command's --help.
import type { CliIo } from '../io.ts';
import { parseFlags, UsageError } from '../args.ts';
import { COMMANDS } from '../command-table.ts';
import { bashScript, candidates, fishScript, fromHelp, zshScript, type CompletionCommand } from '../completion-scripts.ts';

const HELP = `usage: guarita completion bash|zsh|fish

Prints a completion script for guarita and kubectl-guarita (commands, subcommands and flags).
  bash   source <(guarita completion bash)       (or save it under /etc/bash_completion.d/)
  zsh    source <(guarita completion zsh)        (or save it as _guarita in a folder of $fpath)
  fish   guarita completion fish > ~/.config/fish/completions/guarita.fish
'kubectl guarita <TAB>' completes through kubectl_complete-guarita (installed with the npm package),
which kubectl 1.26+ runs for plugins.
`;

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

/** Runs `<command> --help` in-process and keeps what it prints. */
async function helpOf(name: string, io: CliIo): Promise<string> {
  let text = '';
  const sink = { write: (chunk: string | Uint8Array): boolean => { text += String(chunk); return true; } } as unknown as CliIo['stdout'];
  const mod = await COMMANDS[name]?.load();
  await mod?.run(['--help'], { ...io, stdout: sink, stderr: sink });
  return text;
}

async function completionCommands(io: CliIo): Promise<CompletionCommand[]> {
  const commands: CompletionCommand[] = [];
  for (const [name, c] of Object.entries(COMMANDS)) {
    commands.push(name === 'completion' ? { name, summary: c.summary, flags: [], subcommands: Object.keys(SHELLS) } : fromHelp(name, c.summary, await helpOf(name, io)));
  }
  return commands;
}

// cobra's directives, which kubectl reads from a plugin's completion: 4 = no file completion,
// 0 = the shell's default (file names, for a flag's value).
const NO_FILE_COMPLETION = ':4';
const DEFAULT_COMPLETION = ':0';

export async function run(argv: string[], io: CliIo): Promise<number> {
  // `completion __complete WORDS...` (kubectl_complete-guarita): the words are partial, not flags to parse.
  if (argv[0] === '__complete') {
    const found = candidates(await completionCommands(io), argv.slice(1));
    io.stdout.write(`${[...found, found.length > 0 ? NO_FILE_COMPLETION : DEFAULT_COMPLETION].join('\n')}\n`);
    return 0;
  }
  const { values, positionals } = parseFlags(argv, { help: { type: 'boolean', short: 'h' } }, 'completion');
  if (values.help === true) { io.stdout.write(HELP); return 0; }
  const shell = positionals[0];
  if (positionals.length !== 1 || shell === undefined || !Object.hasOwn(SHELLS, shell)) {
    throw new UsageError(`guarita completion needs one shell: bash, zsh or fish (got '${positionals.join(' ')}')`);
  }
  io.stdout.write(SHELLS[shell as keyof typeof SHELLS](await completionCommands(io)));
  return 0;
}
