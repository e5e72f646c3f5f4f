// Git subcommands and options that run a command given in the words of the exec, or that write the
// configuration later git commands run commands from. `git -c`, `--upload-pack` and the other
// global ways are refused by the option table in ssh-command.ts; this reads what depends on the
// subcommand (the same letter is harmless elsewhere: `cherry-pick -x` only appends a line).
// What git runs from files already on the host (hooks, a repository's own diff drivers) is the
// program's own behaviour, which the policy does not judge (docs/ssh.md).

/** Global options that take their value as the next word (`git -C dir log`). */
const GLOBAL_WITH_VALUE = new Set(['-C', '-c', '--git-dir', '--work-tree', '--namespace', '--super-prefix', '--config-env', '--exec-path', '--list-cmds']);

/** Subcommands whose whole job is to run another program (a diff or merge tool, a mailer, a browser, a script per commit). */
const RUNS_PROGRAMS: Readonly<Record<string, string>> = {
  difftool: 'git difftool runs the diff tool given with -x/--extcmd or -t/--tool',
  mergetool: 'git mergetool runs the merge tool given with -t/--tool or configured',
  'filter-branch': 'git filter-branch runs the shell text given to its --*-filter options',
  'send-email': 'git send-email runs the programs given to --sendmail-cmd, --smtp-server, --to-cmd and --cc-cmd',
  instaweb: 'git instaweb runs the web server and browser given with --httpd and --browser',
  'web--browse': 'git web--browse runs the browser given with --browser or --cmd',
};

/** Options, per subcommand, whose value is a command git runs. */
const COMMAND_OPTIONS: Readonly<Record<string, RegExp>> = {
  rebase: /^(--exec|-[A-Za-z]*x)/,
  grep: /^(--open-files-in-pager|-[A-Za-z]*O)/,
  archive: /^--exec/,
  'fetch-pack': /^--exec/,
  'send-pack': /^--exec/,
  help: /^(--web|-[A-Za-z]*w)/,
};

/** Words after a subcommand that make it run the rest of the words (`bisect run CMD`, `submodule foreach CMD`). */
const RUNS_REST: Readonly<Record<string, string>> = {
  bisect: 'run',
  submodule: 'foreach',
};

/** `git config` forms that write (the modern `set`/`unset`/`edit` subcommands and the option forms). */
const CONFIG_WRITES = /^(set|unset|edit|rename-section|remove-section|--add|--replace-all|--unset|--unset-all|--edit|-e|--rename-section|--remove-section)$/;

/** `git config` options whose value is the next word (`-f FILE`), which is not an operand. */
const CONFIG_WITH_VALUE = new Set(['-f', '--file', '--blob', '--type', '--default', '--comment', '--value']);

/** Remote URLs of transports that run a command (ext::CMD, fd::) instead of reaching a host. */
const COMMAND_TRANSPORT = /^(ext|fd)::/;

/** The index of git's subcommand in `args` (the words after `git`), past the global options. */
function subcommandIndex(args: readonly string[]): number {
  let i = 0;
  while (i < args.length && (args[i] ?? '').startsWith('-')) i += GLOBAL_WITH_VALUE.has(args[i] ?? '') ? 2 : 1;
  return i;
}

/** Why `git` with these arguments runs a command given in them (or writes configuration that does), if it does. */
export function gitRunsCommand(args: readonly string[]): string | undefined {
  if (args.some((a) => COMMAND_TRANSPORT.test(a))) return 'git runs the command of an ext:: or fd:: remote URL';
  const at = subcommandIndex(args);
  const sub = args[at];
  return sub === undefined ? undefined : subcommandRunsCommand(sub, args.slice(at + 1));
}

/** Why subcommand `sub` with the words after it (`rest`) runs a command, if it does. */
function subcommandRunsCommand(sub: string, rest: readonly string[]): string | undefined {
  const runs = RUNS_PROGRAMS[sub];
  if (runs !== undefined) return runs;
  const option = COMMAND_OPTIONS[sub];
  const commandOption = option === undefined ? undefined : rest.find((a) => option.test(a));
  if (commandOption !== undefined) return `git ${sub} runs the command given to ${commandOption}`;
  const runsRest = RUNS_REST[sub];
  if (runsRest !== undefined && rest.includes(runsRest)) return `git ${sub} ${runsRest} runs the command given after it`;
  if (sub === 'config' && configWrites(rest)) return 'git config writes configuration later git commands run commands from (core.pager, alias.x=!cmd, diff.*.command); read it with --get or --list';
  return undefined;
}

/** A `git config` that writes: a write form, or a key and a value (two operands; reads take one). */
function configWrites(rest: readonly string[]): boolean {
  if (rest.some((w) => CONFIG_WRITES.test(w))) return true;
  let operands = 0;
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i] ?? '';
    if (CONFIG_WITH_VALUE.has(word)) i++;
    else if (!word.startsWith('-')) operands++;
  }
  return operands >= 2;
}
