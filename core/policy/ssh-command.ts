// An SSH exec request is one string that the host's login shell runs (`$SHELL -c COMMAND`), so it
// is judged the way that shell would read it: split into words with POSIX quoting (single quotes,
// double quotes, backslashes). Everything that would make the shell do more than run one program
// with literal arguments is refused, not guessed at: command lists and pipes (; & | && ||),
// redirections (< >), substitutions ($VAR, $(...), backticks), subshells and groups, globs and
// brace or tilde expansion (the host expands them to names the policy never saw), environment
// assignments before the program, shell keywords, and programs that run another command given as
// arguments (sh -c, env, sudo, xargs, find -exec, ...). Pure: no I/O.

import { gitRunsCommand } from './ssh-git.ts';

export type ParsedCommand =
  | { ok: true; words: string[] }
  | { ok: false; problem: string };

/** The longest command text judged; longer ones are refused (a shell line that long is not a diagnostic). */
export const MAX_COMMAND_LENGTH = 16384;

/**
 * Programs that run another program given in their arguments (or read commands from them): what
 * they run is not the program a rule sees, so they are refused rather than judged by their name.
 */
export const COMMAND_RUNNERS: ReadonlySet<string> = new Set([
  'sh', 'bash', 'rbash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'csh', 'tcsh', 'fish', 'busybox', 'toybox',
  'env', 'sudo', 'su', 'doas', 'runuser', 'pkexec', 'setpriv', 'chroot', 'nsenter', 'unshare', 'setsid',
  'xargs', 'parallel', 'exec', 'eval', 'command', 'builtin', 'source', '.', 'nohup', 'timeout', 'nice',
  'ionice', 'stdbuf', 'time', 'watch', 'strace', 'ltrace', 'script', 'flock', 'unbuffer', 'chrt', 'taskset',
  'ssh', 'rsh', 'socat', 'at', 'batch', 'crontab', 'systemd-run', 'tmux', 'screen', 'expect',
  // Wrappers that exec the program named in their arguments (issue 23 review).
  'sg', 'newgrp', 'sudoedit', 'setarch', 'linux32', 'linux64', 'i386', 'x86_64', 'numactl', 'cgexec', 'firejail',
  'bwrap', 'proot', 'fakeroot', 'faketime', 'prlimit', 'capsh', 'runcon', 'chpst', 'dbus-run-session',
  'dbus-launch', 'xvfb-run', 'valgrind', 'gdb', 'catchsegv', 'torsocks', 'proxychains', 'proxychains4',
  'nocache', 'chronic', 'systemd-nspawn', 'schroot', 'machinectl', 'start-stop-daemon', 'daemonize',
  'run-parts', 'tclsh', 'wish', 'ncat', 'nc', 'netcat',
  // Pagers, editors and clients with shell escapes (!cmd, :!cmd, \\!): with a pty they are a shell.
  'less', 'more', 'most', 'pg', 'man', 'vi', 'vim', 'nvim', 'view', 'vimdiff', 'rvim', 'ex', 'ed', 'emacs', 'nano',
  'pico', 'joe', 'mc', 'ftp', 'sftp', 'lftp', 'telnet', 'mysql', 'mariadb', 'psql', 'sqlite3', 'irb', 'jshell',
  // The same under the names distributions give them (Debian's alternatives /usr/bin/pager and
  // editor, wrappers that run a pager, package-suffixed vims) (round 8 review).
  'pager', 'sensible-pager', 'zless', 'zmore', 'bzless', 'bzmore', 'xzless', 'xzmore', 'lzless', 'lzmore', 'zstdless',
  'editor', 'sensible-editor', 'select-editor', 'vim.basic', 'vim.tiny', 'vim.nox', 'vim.gtk3', 'rview', 'nvi', 'elvis',
  'jed', 'mcedit', 'vile',
]);

/**
 * A version, build or architecture suffix distributions give a program's name: ksh93, zsh5,
 * tclsh8.6, zsh-5.9, mksh-static, bash.static, sh.distrib, valgrind.bin, ruby3.1-dbg. A runner or
 * an interpreter under such a name is the same program (round 10b review: tclsh8.6 is Debian's
 * tclsh, which is only an alternatives link).
 */
const SUFFIX = String.raw`(?:-?[0-9][0-9.]*)?(?:[-.](?:static|dbg|debug|distrib|bin|real|orig|[0-9][0-9.]*))*`;

/** A family of program names: one of `bases`, with any SUFFIX, or `static-` before it (static-sh). */
function named(bases: string): RegExp {
  return new RegExp(`^(?:static-)?(?:${bases})${SUFFIX}$`);
}

/**
 * Shells under every name they are installed as: sh with a prefix naming the shell (bash, rbash,
 * dash, ksh, lksh, mksh, pdksh, oksh, loksh, yash, posh, zsh, csh, tcsh, fish, hush, sash, osh,
 * ysh, gosh, xonsh, elvish, pwsh and Solaris' pf* profile shells) and any SUFFIX, and shells whose
 * name has no sh. A name is read whole: shasum, shred and ssh-keygen are not shells.
 */
const SHELL = named('(?:pf)?(?:a|ba|rba|da|k|rk|mk|lk|pdk|ok|lok|o|y|ya|po|z|rz|c|tc|fi|hu|sa|e|r|m|j|bo|xon|elvi|go|pw)?sh|es|rc|nu|ion|murex|oil|powershell|busybox|toybox');

/** Programs, by name pattern, that run code or commands from their arguments or stdin. */
const RUNNER_NAME_PATTERNS: readonly RegExp[] = [
  // pdb3.11 is python -m pdb.
  /^pdb[0-9.]*$/,
  SHELL,
  // Tcl, Tk and Expect read commands from stdin with no script, and run any program with exec.
  named('tclsh|wish|expect|expectk|jimsh|tixwish|itkwish|tkcon'),
  // gdb under its target names (gdb-multiarch) runs a program and shell commands; perf runs the command
  // after record, stat or trace (Debian's perf is a wrapper around perf_VERSION).
  /^gdb(?:-[A-Za-z0-9_]+)*$|^gdbserver$|^perf(?:_[0-9][0-9.]*)?$/,
];

const ENDS_IN_SUFFIX = new RegExp(`${SUFFIX}$`);

/** A COMMAND_RUNNERS name, as given or under a SUFFIX (nc6, expect5.45, valgrind.bin, strace.static). */
function isRunner(name: string): boolean {
  const base = name.replace(/^static-/, '').replace(ENDS_IN_SUFFIX, '');
  return COMMAND_RUNNERS.has(name) || COMMAND_RUNNERS.has(base) || RUNNER_NAME_PATTERNS.some((r) => r.test(name));
}

// Interpreter names, each family once: the inline-code rule and the stdin rule below read the same
// names, as distributions install them (python3.11, python3-dbg, perl5.36-x86_64-linux-gnu, php8.2,
// php-cgi8.2, luajit, ruby3.1).
const PYTHON = /^(python|pypy|jython|graalpy|ipython|micropython)[0-9.]*(m|d|u|-dbg|-debug)?$/;
const PERL = /^perl[0-9.]*(-[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*)?$/;
const RUBY = named('ruby|jruby|truffleruby|mruby');
const NODE = named('node|nodejs');
const PHP = named('php(?:-cgi|-cli)?');
const LUA = named('lua|luajit|texlua|luatex');
/** JavaScript and TypeScript runners other than node: what reads program text as node does. */
const JS_RUNNERS = named('ts-node(?:-esm|-script|-cwd|-transpile-only)?|tsx|qjs|quickjs|coffee|jrunscript|jjs|rhino');
/** Raku under its names (perl6 is Raku, not Perl). */
const RAKU = named('raku|rakudo|perl6');

/** Python standard-library modules run as script files that run their arguments as code (timeit.py STMT, pdb.py -c CMD). */
const PYTHON_CODE_RUNNERS = /(^|\/)(timeit|code|pdb|trace|profile|cProfile|runpy|doctest)\.py$/;

/**
 * An interpreter's options that take program text inline (python -c, perl -e, ...): the text can
 * run anything, so a command with one is refused; a script file path is judged as usual. `short`
 * is tested on a short option cluster up to its first letter that takes a value (`valued`, whose
 * value is the rest of the word or the next word) or its first `:` or `=`: `ruby -rtime` is -r
 * with `time`, not -r -t -i -m -e, and `perl -Ime` is -I with `me` (round 10b review). Digits do
 * not end a cluster (`perl -0777ne` is -0777 -n -e). `word` is tested on the whole word (long
 * options, URLs).
 */
interface InlineCode { programs: RegExp; short?: RegExp; valued?: string; word?: RegExp }

const INLINE_CODE_OPTIONS: readonly InlineCode[] = [
  // -m runs a module with the arguments: timeit and code run their arguments as Python, pdb too.
  { programs: PYTHON, short: /[cm]/, valued: 'WXQ' },
  // -M/-m load a module as `use MODULE ...;`, and `-MPOSIX;system(...)` appends code to it; -d:MOD
  // is `use Devel::MOD...;` the same way (-d:Peek;system(...), round 8b review). Any option word
  // with a `;` is code for the same reason. -I, -x, -i, -D and -F take the rest of the word.
  { programs: PERL, short: /[eEmM]|d[:=]/, valued: 'IxiDF', word: /^-.*;/ },
  // -C, -E, -F, -I, -r, -x and -i take the rest of the word; -W: takes the rest after its colon.
  { programs: RUBY, short: /e/, valued: 'CEFIrxi' },
  // A data: URL is program text inline (node --import data:text/javascript,..., deno run data:...);
  // an http(s): one is program text from a server the agent may control.
  { programs: new RegExp(`${NODE.source}|^(deno|bun)[0-9.]*$`), short: /[ep]/, valued: 'rC', word: /^(--eval|--print|eval$|-e=|--eval=)|(^|=)(data|https?|blob):/i },
  { programs: JS_RUNNERS, short: /[ep]/, valued: 'rCPOI', word: /^--(eval|print)|(^|=)(data|https?|blob):/i },
  { programs: PHP, short: /[rRBFE]/, valued: 'cdztSf' },
  { programs: LUA, short: /e/, valued: 'l' },
  { programs: RAKU, short: /[eM]/, valued: 'I' },
  { programs: /^(R|Rscript)$/, word: /^(-e|--expr)/ },
  // dc's `!` runs a shell command (round 10 review).
  { programs: /^dc$/, short: /e/, valued: 'f', word: /^--expression/ },
  // Other interpreters, with their eval options (gnuplot's `system` and `!` run commands). Their
  // options taking values are not all known: their clusters are read whole (a refusal at worst).
  { programs: named('julia'), short: /[eE]/, valued: 'tpOgCJLMH', word: /^--(eval|print)/ },
  { programs: named('octave|octave-cli'), word: /^--eval/ },
  { programs: named('guile|racket|sbcl|clisp|ghci|ghc|runghc|runhaskell|elixir|iex|groovy|scala|gnuplot|bb|swipl|ocaml|gosh|csi'), short: /[ecx]/, word: /^--(eval|expression)/ },
  { programs: /^erl$/, word: /^-(eval|s|run|S)$/ },
];

/** A short option cluster up to and including its first letter that takes a value, or its first `:` or `=` (none for other words). */
export function clusterHead(word: string, valued: string): string {
  if (!/^-[^-]/.test(word)) return '';
  for (let i = 1; i < word.length; i++) {
    const c = word[i] ?? '';
    if (valued.includes(c) || c === ':' || c === '=') return word.slice(0, i + 1);
  }
  return word;
}

/** Whether an argument word gives program text inline under `spec`. */
function givesInlineCode(spec: InlineCode, word: string): boolean {
  const head = spec.short === undefined ? '' : clusterHead(word, spec.valued ?? '');
  return (head !== '' && spec.short !== undefined && spec.short.test(head.slice(1))) || matches(spec.word, word);
}

/**
 * awk under its names (gawk, mawk, nawk, goawk, original-awk, busybox-awk, mawk1.3), and program
 * text that runs commands or touches other files: system(), pipes, redirections, getline, gawk
 * extensions.
 */
const AWK = named('(?:[a-z0-9]+-)*[a-z]*awk');
const AWK_DANGER = /system|\||>|<|getline|@|ENVIRON|PROCINFO/;

/**
 * How an interpreter's arguments say where its program comes from, read to find whether it reads
 * program text from stdin: with no script operand (`perl`, `python3`), with `-` or a name of fd 0
 * (`/dev/stdin`) as the script or as a file an option loads (`node -r /dev/stdin app.js`), or
 * interactively (`python3 -i x.py` reads stdin after the script; perl's debugger). Stdin is program
 * text exactly as `-e` text is: typed input the policy never judges (round 10 review). Reading is
 * fail-closed: a long option not known to take no value is read as taking the next word, which can
 * only leave no script (refused), never take an option's value for the script.
 */
interface StdinInterpreter {
  programs: RegExp;
  /** Short option letters that take a value: attached (-Wignore) or the next word (-W ignore). */
  valued: string;
  /** Of those, the letters whose value is the program file (php -f FILE, dc -f FILE). */
  file?: string;
  /** Long options (without =) that take no value; every other long option takes the next word. */
  flags: RegExp;
  /** Long options whose value is the program file (--file FILE, --file=FILE). */
  fileLong?: RegExp;
  /** Options after which the program prints and exits without reading a program (-V, --version, --help). */
  informational: RegExp;
  /** What reads program text from stdin whatever else is given: short letters (before any valued one), long options, option values. */
  interactive?: { letters?: string; long?: RegExp; values?: RegExp };
  /** Subcommands before the script (deno run SCRIPT); true: they read stdin (deno repl). */
  subcommands?: Readonly<Record<string, boolean>>;
  /** The program comes only from a file option, never from an operand (R). */
  fileOnly?: boolean;
  /** Scripts, by name, that are a REPL reading stdin (ruby -S irb, python3 /usr/bin/ipython3, perl -S cpan). */
  repls?: RegExp;
}

const HELP = /^(-h|--help.*|-V|--version|-\?)$/;
const STDIN_INTERPRETERS: readonly StdinInterpreter[] = [
  { programs: PYTHON, valued: 'WXcmQ', flags: /^--(help.*|version)$/, informational: HELP, interactive: { letters: 'i' }, repls: /^(i?python[0-9.]*|bpython[0-9.]*|ptpython[0-9.]*|idle[0-9.]*)$/ },
  // -d runs the debugger, which reads its commands from stdin when there is no terminal.
  { programs: PERL, valued: 'IeEmM', flags: /^--(help|version)$/, informational: /^(-v|-V.*|-h|--help|--version)$/, interactive: { letters: 'd' }, repls: /^(cpan|cpanp|perl5db\.pl)$/ },
  // -r debug starts the debugger (stdin) as the script begins.
  { programs: RUBY, valued: 'IrCEe', flags: /^--(version|verbose|copyright|help|yydebug|jit|yjit|(enable|disable)-[a-z-]+)$/, informational: /^(-v|-h|--version|--help|--copyright)$/, interactive: { values: /^(debug|byebug|pry)\b/ }, repls: /^(irb|pry|rdbg|byebug)[0-9.]*(\.rb)?$/ },
  {
    programs: NODE, valued: 'rCep', informational: /^(-v|-h|--version|--help|--v8-options)$/, interactive: { letters: 'i', long: /^--interactive$/ }, subcommands: { inspect: true },
    flags: /^--(no-[a-z-]+|trace-(warnings|deprecation|uncaught|exit|sigint|sync-io)|throw-deprecation|pending-deprecation|enable-source-maps|preserve-symlinks(-main)?|abort-on-uncaught-exception|experimental-(vm-modules|strip-types|transform-types|detect-module|require-module|wasm-modules|json-modules)|frozen-intrinsics|zero-fill-buffers|expose-gc|inspect(-brk|-wait)?|interactive|watch|test|check|version|help)$/,
  },
  {
    programs: /^deno$/, valued: 'cL', informational: /^(-V|-h|--version|--help)$/,
    flags: /^--((allow|deny)-[a-z-]+|unstable[a-z-]*|no-[a-z-]+|quiet|reload|cached-only|check|watch|inspect(-brk|-wait)?|version|help)$/,
    subcommands: { run: false, serve: false, test: false, bench: false, check: false, compile: false, install: false, cache: false, info: false, fmt: false, lint: false, doc: false, task: false, repl: true, jupyter: true },
  },
  { programs: /^bun$/, valued: 'rcdlep', informational: /^(-v|-h|--version|--help)$/, flags: /^--(bun|watch|hot|smol|silent|if-present|no-[a-z-]+|version|help)$/, subcommands: { run: false, test: false, build: false, repl: true } },
  { programs: PHP, valued: 'cdztSf', file: 'f', fileLong: /^--file$/, flags: /^--(version|help|info|modules|ini|syntax-check|no-php-ini|no-chdir|strip|hide-args|interactive)$/, informational: /^(-[vimh?]|--version|--help|--info|--modules|--ini)$/, interactive: { letters: 'a', long: /^--interactive$/ } },
  { programs: LUA, valued: 'el', flags: /^$/, informational: /^-v$/, interactive: { letters: 'i' } },
  // R reads its program from stdin unless given --file (its operands are ignored); Rscript takes the script as its operand.
  { programs: /^R$/, valued: 'fe', file: 'f', fileLong: /^--file$/, fileOnly: true, flags: /^--(?!file$|encoding$)/, informational: /^(--version|--help|-h)$/ },
  { programs: /^Rscript$/, valued: 'e', flags: /^--/, informational: /^(--version|--help)$/ },
  { programs: /^dc$/, valued: 'ef', file: 'f', fileLong: /^--file$/, flags: /^--(version|help)$/, informational: HELP },
  // Less common interpreters and REPLs, read without knowing their options: every short option and
  // every long one without = is read as taking the next word, so a refusal is the worst a reading
  // error does (julia -q x.jl is refused; write the options after the script or with =).
  {
    programs: new RegExp(`${named('julia|octave|octave-cli|guile|racket|sbcl|clisp|ghci|runghc|runhaskell|erl|escript|elixir|iex|groovy|groovysh|scala|gnuplot|m4|gm4|csi|gsi|irb|pry|rdbg|byebug|bpython|ptpython|bb|swipl|gforth|ocaml|gosh|scheme|chezscheme').source}|${JS_RUNNERS.source}|${RAKU.source}`),
    valued: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', flags: /^$/, informational: /^(-v|-V|-h|--version|--help)$/,
  },
];

/** Operands that name stdin: `-`, and any path into /dev or /proc (/dev/stdin, /dev/fd/0, /proc/self/fd/0, /proc/self/root/dev/stdin). */
export function namesStdin(word: string): boolean {
  if (word === '-' || word === '') return true;
  const { parts, climbs } = foldPath(word);
  // A relative path that climbs out of the login directory (../../dev/stdin) can land anywhere: read from /.
  if (!word.startsWith('/') && !climbs) return false;
  return parts[0] === 'dev' || parts[0] === 'proc';
}

/** A path's segments with `.` and `x/..` folded as text; `climbs`: a `..` went above where it starts. */
function foldPath(word: string): { parts: string[]; climbs: boolean } {
  const parts: string[] = [];
  let climbs = false;
  for (const seg of word.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg !== '..') parts.push(seg);
    else climbs = parts.pop() === undefined || climbs;
  }
  return { parts, climbs };
}

/** What an interpreter's arguments say of its program's source. */
interface ProgramSource { script?: string; files: string[]; informational: boolean; interactive: boolean; stdinValue: boolean }

/** An option's value names stdin itself or after its `KEY=` (php -d auto_prepend_file=/dev/stdin). */
function valueNamesStdin(value: string): boolean {
  const eq = value.indexOf('=');
  return namesStdin(value) || (eq >= 0 && namesStdin(value.slice(eq + 1)));
}

/** A long option word: what it says; how many following words it takes (0 or 1). */
function readLong(spec: StdinInterpreter, word: string, next: string | undefined, out: ProgramSource): number {
  const eq = word.indexOf('=');
  const name = eq < 0 ? word : word.slice(0, eq);
  const takesNext = eq < 0 && !spec.flags.test(name);
  if (matches(spec.interactive?.long, name)) out.interactive = true;
  noteValue(spec, eq >= 0 ? word.slice(eq + 1) : takesNext ? next : undefined, matches(spec.fileLong, name), out);
  return takesNext ? 1 : 0;
}

const matches = (r: RegExp | undefined, word: string): boolean => r !== undefined && r.test(word);
const hasLetter = (letters: string | undefined, c: string): boolean => letters !== undefined && letters.includes(c);

/** An option's value: the program file (`isFile`), or a file it loads that is stdin, or a debugger. */
function noteValue(spec: StdinInterpreter, value: string | undefined, isFile: boolean, out: ProgramSource): void {
  // A file option with nothing after it: the interpreter fails or reads stdin; either way no script.
  if (isFile) out.files.push(value ?? '-');
  if (value === undefined) return;
  if (valueNamesStdin(value)) out.stdinValue = true;
  if (matches(spec.interactive?.values, value)) out.interactive = true;
}

/** A short option cluster (-BW ignore): its letters up to the first that takes a value, which takes the rest or the next word. */
function readShort(spec: StdinInterpreter, word: string, next: string | undefined, out: ProgramSource): number {
  for (let k = 1; k < word.length; k++) {
    const letter = word[k] ?? '';
    if (hasLetter(spec.interactive?.letters, letter)) out.interactive = true;
    if (!spec.valued.includes(letter)) continue;
    const attached = word.slice(k + 1);
    noteValue(spec, attached === '' ? next : attached, hasLetter(spec.file, letter), out);
    return attached === '' ? 1 : 0;
  }
  return 0;
}

/** Where an interpreter's arguments take its program from. */
function programSource(spec: StdinInterpreter, args: readonly string[]): ProgramSource {
  const out: ProgramSource = { files: [], informational: false, interactive: false, stdinValue: false };
  let subcommands = spec.subcommands;
  for (let i = 0; i < args.length; i++) {
    const word = args[i] ?? '';
    if (word === '--') return withScript(out, args[i + 1]);
    if (word === '-' || !word.startsWith('-')) {
      // Only the first operand may be a subcommand (deno run SCRIPT); any other is the script.
      const reads = subcommands?.[word];
      subcommands = undefined;
      if (reads === undefined) return withScript(out, word);
      out.interactive ||= reads;
      continue;
    }
    i += readOption(spec, word, args[i + 1], out);
  }
  return out;
}

function withScript(out: ProgramSource, script: string | undefined): ProgramSource {
  return script === undefined ? out : { ...out, script };
}

/** One option word; how many following words it takes (0 or 1). */
function readOption(spec: StdinInterpreter, word: string, next: string | undefined, out: ProgramSource): number {
  if (spec.informational.test(word)) out.informational = true;
  return word.startsWith('--') ? readLong(spec, word, next, out) : readShort(spec, word, next, out);
}

/** Why an interpreter's command reads program text from stdin, if it does. */
function readsProgramFromStdin(name: string, args: readonly string[]): string | undefined {
  const spec = STDIN_INTERPRETERS.find((s) => s.programs.test(name));
  if (spec === undefined) return undefined;
  const source = programSource(spec, args);
  if (source.interactive || startsRepl(spec, source.script)) return `${name} reads program text from stdin (interactively, or in its debugger)`;
  const programs = [...source.files, ...(spec.fileOnly === true || source.script === undefined ? [] : [source.script])];
  if (source.stdinValue || programs.some(namesStdin)) return `${name} reads program text from stdin (-, /dev/stdin or another name of fd 0)`;
  if (programs.length === 0 && !source.informational) return `${name} has no script operand, so it reads its program from stdin`;
  return undefined;
}

function startsRepl(spec: StdinInterpreter, script: string | undefined): boolean {
  return script !== undefined && matches(spec.repls, programName(script));
}

/**
 * What an awk option does to its program. awk implementations spell -f differently: gawk's
 * --file, --exec, --include (and -E, -i), mawk's `-W exec FILE`, and both read `-W NAME` as the
 * long option --NAME, abbreviated as far as it is unique (`-We`, `--fi=FILE`, round 10b review).
 * A name is read as the option it could abbreviate, fail-closed: `-W in` is gawk's --include
 * (mawk's -W interactive is spelled at least `int`), `--f` is --file. --debug (-D) reads debugger
 * commands, which run awk code, from stdin; --load (-l) loads an extension library.
 */
type AwkEffect = 'file' | 'load' | 'debug' | undefined;

function awkLongEffect(name: string): AwkEffect {
  if (/^(e|f(?!ie)|i(?!nt))/.test(name)) return 'file';
  if (/^l(?!i)/.test(name)) return 'load';
  return /^d(?!u)/.test(name) ? 'debug' : undefined;
}

/** awk's short options: which letters take a value (the rest of the word or the next word), and what they do. */
const AWK_SHORT: Readonly<Record<string, AwkEffect | 'value' | 'optional'>> = {
  f: 'file', E: 'file', i: 'file', l: 'load', D: 'debug', F: 'value', v: 'value', e: 'value',
  // gawk's -d[FILE], -o[FILE], -p[FILE], -L[fatal] take only an attached value.
  d: 'optional', o: 'optional', p: 'optional', L: 'optional',
};

/** One option's reading: its effect, its value (undefined: missing), how many following words it took. */
interface AwkOption { effect: AwkEffect; value?: string | undefined; takes: number }

/** A -W word (attached or next) or a long option: each comma-separated NAME[=VALUE] part read as --NAME. */
function awkNamed(text: string, next: string | undefined, takes: number): AwkOption {
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const effect = awkLongEffect(eq < 0 ? part : part.slice(0, eq));
    if (effect !== undefined) return eq < 0 ? { effect, value: next, takes: takes + 1 } : { effect, value: part.slice(eq + 1), takes };
  }
  return { effect: undefined, takes };
}

/** A short cluster: its letters up to the first that takes a value. */
function awkShort(word: string, next: string | undefined, after: string | undefined): AwkOption {
  for (let k = 1; k < word.length; k++) {
    const o = awkLetter(word[k] ?? '', word.slice(k + 1), next, after);
    if (o !== undefined) return o;
  }
  return { effect: undefined, takes: 0 };
}

/** One letter of a short cluster with what follows it in the word: undefined when it takes no value (the cluster goes on). */
function awkLetter(letter: string, attached: string, next: string | undefined, after: string | undefined): AwkOption | undefined {
  const kind = AWK_SHORT[letter];
  if (letter === 'W') return attached === '' ? awkNamed(next ?? '', after, 1) : awkNamed(attached, next, 0);
  if (kind === 'optional') return { effect: undefined, takes: 0 };
  if (kind === undefined) return undefined;
  const effect = kind === 'value' ? undefined : kind;
  return attached === '' ? { effect, value: next, takes: 1 } : { effect, value: attached, takes: 0 };
}

function awkOption(word: string, next: string | undefined, after: string | undefined): AwkOption {
  return word.startsWith('--') ? awkNamed(word.slice(2), next, 0) : awkShort(word, next, after);
}

/** Every option of an awk command line, its values skipped. Operands are passed over, not ended at: some getopts permute. */
function awkOptions(args: readonly string[]): AwkOption[] {
  const out: AwkOption[] = [];
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    const word = args[i] ?? '';
    if (!word.startsWith('-') || word === '-') continue;
    const o = awkOption(word, args[i + 1], args[i + 2]);
    out.push(o);
    i += o.takes;
  }
  return out;
}

/** Why awk reads its program (or debugger commands) from stdin, if it does. */
function awkReadsProgram(name: string, args: readonly string[]): string | undefined {
  const options = awkOptions(args);
  if (options.some((o) => o.effect === 'debug')) return `${name} --debug (-D) reads debugger commands, which run awk code, from stdin`;
  const stdin = options.some((o) => o.effect === 'file' && (o.value === undefined || namesStdin(o.value)));
  return stdin ? `${name} reads its program file from stdin (-f -, -f /dev/stdin, -W exec /dev/stdin)` : undefined;
}

/**
 * make's makefile comes from -f (--file, --makefile, abbreviated as getopt_long allows: --fi,
 * --makef), else from the working directory: only -f can name stdin. Its recipes are shell
 * commands. -C, -I, -o, -W and -E take a value (the rest of the word or the next word); -E
 * (--eval) is makefile text inline (RUNNER_OPTIONS).
 */
const MAKE = named('make|gmake|bmake|pmake|remake');
const MAKE_FILE_LONG = /^--(?:f(?:i(?:le?)?)?|mak(?:e(?:f(?:i(?:le?)?)?)?)?)(?:=(.*))?$/;

/** The makefile an option word names (null: it names none; undefined: its value is missing). */
function makefileOption(word: string, next: string | undefined): string | undefined | null {
  const long = MAKE_FILE_LONG.exec(word);
  if (long !== null) return long[1] ?? next;
  const head = clusterHead(word, 'CIoWEf');
  if (!head.endsWith('f')) return null;
  const attached = word.slice(head.length);
  return attached === '' ? next : attached;
}

/** What a program reads from stdin as its program file, if it does. */
function programFileFromStdin(name: string, args: readonly string[]): string | undefined {
  if (AWK.test(name)) return awkReadsProgram(name, args);
  if (!MAKE.test(name)) return undefined;
  const reads = args.some((word, i) => {
    const value = makefileOption(word, args[i + 1]);
    return value !== null && (value === undefined || namesStdin(value));
  });
  return reads ? `${name} reads its makefile (whose recipes are shell commands) from stdin (-f -, -f /dev/stdin)` : undefined;
}

/** Programs that serve a protocol on stdin whose requests the policy would never see (an SFTP server run as an exec). */
const STDIN_SERVERS: ReadonlySet<string> = new Set(['sftp-server', 'internal-sftp', 'gvfsd-sftp']);

/** Options of ordinary programs that make them run another command given as their value. */
const RUNNER_OPTIONS: ReadonlyArray<{ program: RegExp; option: RegExp; why: string }> = [
  { program: /^g?tar$/, option: /^(--to-command|--checkpoint-action|--use-compress-program|--info-script|--new-volume-script|--rsh-command|--rmt-command|-I|-F)|^-[A-Za-z]*[IF]/, why: 'tar runs the command given to --to-command, --checkpoint-action, -I or -F' },
  { program: /^rsync$/, option: /^(-e|--rsh|--rsync-path)|^-[A-Za-z]*e/, why: 'rsync runs the command given to -e or --rsync-path' },
  { program: /^git$/, option: /^(-c|--config-env|--exec-path|--upload-pack|--receive-pack|-u|--ext-diff|--textconv|--open-files-in-pager)|^-[A-Za-z]*c|^core\.|^alias\./, why: 'git runs commands from -c configuration (core.pager, core.sshCommand, alias.x=!cmd), --upload-pack or --exec-path' },
  { program: /^zip$/, option: /^(-TT|--unzip-command)/, why: 'zip runs the command given to -TT' },
  // GNU sed's e command and s///e flag run commands; r, w (and the w flag) read and write other files.
  { program: /^(sed|gsed)$/, option: /(^|[;}0-9$/!,\s])[eErRwW](\s|$|;|\/)|^s\/.*\/[gpiImM0-9]*[eEwW]|^-[A-Za-z]*f|^--file/, why: 'sed runs commands with its e command or s///e flag, reads or writes other files with r and w, and -f reads a script the policy cannot see' },
  { program: /^(ssh-keygen|ssh-agent|openssl)$/, option: /^(-D|engine|-engine|--engine)$/, why: 'the program loads code named in its arguments' },
  // make --eval (-E, 4.4) reads makefile text from its value.
  { program: MAKE, option: /^--ev|^-[A-Za-z]*E/, why: 'make --eval (-E) runs makefile text given in its arguments, whose recipes are shell commands' },
  // php -d sets ini options that run or load other files before the script (auto_prepend_file=/dev/stdin, allow_url_include).
  { program: PHP, option: /^(auto_(prepend|append)_file|allow_url_include|include_path|extension|zend_extension)=|^-d\s*(auto_(prepend|append)_file|allow_url_include|include_path|extension|zend_extension)=/, why: 'php -d sets an ini option that runs or loads another file (auto_prepend_file, extension)' },
];

/** Shell reserved words: a command starting with one is shell syntax, not a program. */
const RESERVED = new Set(['if', 'then', 'else', 'elif', 'fi', 'case', 'esac', 'for', 'while', 'until', 'do', 'done', 'in', 'function', 'select', '!', '{', '}', '[[', ']]', 'coproc']);

/** Characters that end a word and start shell syntax when unquoted. */
const OPERATORS: Readonly<Record<string, string>> = {
  ';': 'a command list (;)', '&': 'a background job or command list (&, &&)', '|': 'a pipe (|, ||)', '<': 'a redirection (<)', '>': 'a redirection (>)',
  '(': 'a subshell or group ( ( ) )', ')': 'a subshell or group ( ( ) )', '\n': 'a second line (newline)', '\r': 'a carriage return',
};

const GLOB = new Set(['*', '?', '[']);

function refuse(problem: string): { ok: false; problem: string } {
  return { ok: false, problem: `${problem}: the host's shell would do more than run one program with these arguments, which the policy cannot judge; run a single program with literal (quoted) arguments` };
}

/** Problems of the unquoted character at `i`. */
function characterProblem(line: string, i: number, inWord: boolean, pattern: boolean): string | undefined {
  const c = line[i] ?? '';
  // bash expands an unquoted ~ after = or : in assignment-looking words (dd if=~/x, a=b:~/x).
  const tilde = c === '~' && inWord && (line[i - 1] === '=' || line[i - 1] === ':');
  return tilde ? 'the command contains an unquoted ~ after = or : that bash would expand to a home directory' : unquotedProblem(c, inWord, pattern);
}

/** Problems of an unquoted character (pattern: a rule's glob, where * is the rule's wildcard). */
function unquotedProblem(c: string, inWord: boolean, pattern: boolean): string | undefined {
  const op = OPERATORS[c];
  if (op !== undefined) return `the command contains ${op}`;
  if (c === '`') return 'the command contains a command substitution (`...`)';
  if (c === '$') return 'the command contains a variable or command substitution ($)';
  if (GLOB.has(c) && !(pattern && c === '*')) return `the command contains an unquoted glob character (${c}) the host would expand`;
  if (c === '{' || c === '}') return `the command contains an unquoted brace (${c}) the host's shell may expand`;
  return inWord ? undefined : WORD_START_PROBLEMS[c];
}

/** Characters that mean more than themselves at the start of a word. */
const WORD_START_PROBLEMS: Readonly<Record<string, string>> = {
  '~': 'the command contains an unquoted ~ the host would expand to a home directory',
  // A comment hides the rest of the line from some shells and not others (zsh without interactive_comments).
  '#': 'the command contains an unquoted # (a comment in some shells, not in others)',
  // zsh expands =name at the start of a word to the program's path.
  '=': 'the command contains a word starting with an unquoted = (zsh expands it)',
};

type Piece = { text: string; end: number } | { problem: string; refuse: boolean };

/** One piece of a word at `i`: a backslash escape, a quoted string, or a plain character. */
function piece(line: string, i: number): Piece {
  const c = line[i] ?? '';
  if (c === '\\') {
    const next = line[i + 1];
    return next === undefined ? { problem: 'the command ends in a lone backslash', refuse: true } : { text: next, end: i + 2 };
  }
  if (c === "'") {
    const end = line.indexOf("'", i + 1);
    return end < 0 ? { problem: 'the command has an unterminated single quote', refuse: false } : { text: line.slice(i + 1, end), end: end + 1 };
  }
  if (c === '"') return doubleQuoted(line, i + 1);
  return { text: c, end: i + 1 };
}

function lineProblem(line: string): string | undefined {
  if (line.length > MAX_COMMAND_LENGTH) return `the command is longer than ${MAX_COMMAND_LENGTH} characters`;
  // Anywhere, quoted or not: a backslash-newline is a line continuation the shell removes (r\<newline>m is rm).
  if (/[\n\r]/.test(line)) return refuse('the command contains a newline or carriage return (a second line, or a line continuation the shell removes)').problem;
  // Unicode line and paragraph separators and U+FFFD (bytes that were not UTF-8): what the host's shell gets is not this text.
  if (/[\u0085\u2028\u2029\ufffd]/.test(line)) return 'the command contains a Unicode line separator or bytes that are not UTF-8';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(line)) return 'the command contains control characters';
  return undefined;
}

/** The words of a line, or why it cannot be judged. */
function splitWords(line: string, pattern: boolean): string[] | { ok: false; problem: string } {
  const words: string[] = [];
  let word = '';
  // An empty quoted word ('') is still a word.
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i] ?? '';
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    const problem = characterProblem(line, i, inWord, pattern);
    if (problem !== undefined) return refuse(problem);
    const p = piece(line, i);
    if ('problem' in p) return p.refuse ? refuse(p.problem) : { ok: false, problem: p.problem };
    word += p.text;
    inWord = true;
    i = p.end;
  }
  if (inWord) words.push(word);
  return words;
}

/**
 * Splits a command line into words as a POSIX shell would, or says why it cannot be judged.
 * `pattern`: a rule's command glob, where * is the rule's wildcard (kept as is) and any program may be named.
 */
export function parseCommandLine(line: string, opts: { pattern?: boolean } = {}): ParsedCommand {
  const problem = lineProblem(line);
  if (problem !== undefined) return { ok: false, problem };
  const pattern = opts.pattern === true;
  const words = splitWords(line, pattern);
  if (!Array.isArray(words)) return words;
  if (pattern) return words.length === 0 ? { ok: false, problem: 'the command glob is empty' } : { ok: true, words };
  return checkWords(words);
}

/** Inside double quotes a backslash escapes only these (and newline, which is refused anyway). */
const DOUBLE_QUOTE_ESCAPES = new Set(['$', '`', '"', '\\']);
const DOUBLE_QUOTE_PROBLEMS: Readonly<Record<string, string>> = {
  $: 'the command contains a variable or command substitution ($) inside double quotes',
  '`': 'the command contains a command substitution (`...`) inside double quotes',
};

function doubleQuoted(line: string, start: number): Piece {
  let text = '';
  for (let i = start; i < line.length; i++) {
    const c = line[i] ?? '';
    if (c === '"') return { text, end: i + 1 };
    const problem = DOUBLE_QUOTE_PROBLEMS[c];
    if (problem !== undefined) return { problem, refuse: true };
    const next = line[i + 1] ?? '';
    if (c === '\\' && DOUBLE_QUOTE_ESCAPES.has(next)) {
      text += next;
      i++;
    } else {
      text += c;
    }
  }
  return { problem: 'the command has an unterminated double quote', refuse: false };
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

function checkWords(words: string[]): ParsedCommand {
  const program = words[0];
  if (program === undefined || program === '') return { ok: false, problem: 'the command is empty (an empty exec runs nothing; open a shell session instead)' };
  // Only an unquoted NAME= makes an assignment, but a quoted one is an odd program name either way: refused alike.
  if (ASSIGNMENT.test(program)) return refuse('the command starts with an environment assignment (NAME=value)');
  if (RESERVED.has(program)) return refuse(`the command starts with the shell keyword ${program}`);
  const name = programName(program);
  const runner = runsAnother(name, words.slice(1));
  if (runner !== undefined) return refuse(runner);
  const stdin = programFromStdin(name, words.slice(1));
  if (stdin !== undefined) return { ok: false, problem: `${stdin}: program text on stdin is typed input the policy never judges, as inline code (-c, -e) is; give the script as a file argument (python3 /path/to/script.py)` };
  return { ok: true, words };
}

/** Why a program runs program text, or serves requests, it reads from stdin, if it does. */
function programFromStdin(name: string, args: readonly string[]): string | undefined {
  if (STDIN_SERVERS.has(name)) return `${name} serves SFTP requests read from stdin, each of which the policy would never see (use the sftp subsystem: sftp, scp)`;
  // With no command, openssl reads its commands (enc -in FILE, ...) from stdin.
  if (name === 'openssl' && args.length === 0) return 'openssl with no command reads its commands from stdin';
  return programFileFromStdin(name, args) ?? readsProgramFromStdin(name, args);
}

/** Why a program runs another command or code given in its arguments, if it does. */
function runsAnother(name: string, args: readonly string[]): string | undefined {
  if (isRunner(name)) return `${name} runs another command given in its arguments`;
  if (name === 'find' && args.some((w) => /^-(exec|execdir|ok|okdir|fprint|fprint0|fprintf|fls|delete)$/.test(w))) return 'find -exec (or -delete, -fprint) runs another command or changes files given in its arguments';
  if (name === 'R' && args.includes('CMD')) return 'R CMD runs the program named in its arguments';
  return interpreterRunsCode(name, args) ?? programRunsCode(name, args);
}

/** Why an interpreter runs program text given in its arguments, if it does. */
function interpreterRunsCode(name: string, args: readonly string[]): string | undefined {
  const inline = INLINE_CODE_OPTIONS.find((i) => i.programs.test(name));
  // Every word is read (a script's own -m option too): an option's value (python -W ignore -c ...)
  // would otherwise end the scan before the option that runs code.
  if (inline !== undefined && args.some((a) => givesInlineCode(inline, a))) return `${name} runs program text given in its arguments`;
  if (PYTHON.test(name) && args.some((a) => PYTHON_CODE_RUNNERS.test(a))) return `${name} runs a standard-library module that runs its arguments as code`;
  if (AWK.test(name) && args.some((a) => AWK_DANGER.test(a))) return `${name} program text that runs commands or opens other files (system, |, >, <, getline)`;
  // gawk -l (--load, -W load) loads a shared-library extension (readfile, filefuncs, fork), as @load does.
  if (AWK.test(name) && awkOptions(args).some((o) => o.effect === 'load')) return `${name} -l (--load) loads an extension library that reads files or runs commands`;
  return undefined;
}

/** Why an ordinary program runs another command named in an option's value, if it does. */
function programRunsCode(name: string, args: readonly string[]): string | undefined {
  const option = RUNNER_OPTIONS.find((o) => o.program.test(name) && args.some((a) => o.option.test(a)));
  return option?.why ?? (name === 'git' ? gitRunsCommand(args) : undefined);
}

/** The program's name without its directory (/usr/bin/rm → rm). */
export function programName(word: string): string {
  const slash = word.lastIndexOf('/');
  return slash < 0 ? word : word.slice(slash + 1);
}

/**
 * The values an option may carry in its own word, which a program opens like an operand:
 * `--file=/x`, `if=/x` (dd), and a short option's attached value holding a / after any of the
 * letters clustered before it (`-f/x`; `tar -xf/x` is -x then -f with /x: both `f/x` and `/x`).
 * None when the word carries no such value (`-rf`, `-n5`, an operand).
 */
export function optionValues(word: string): string[] {
  const assigned = /^(?:--?[A-Za-z0-9][A-Za-z0-9_-]*|[A-Za-z][A-Za-z0-9_]*)=(.+)$/.exec(word);
  if (assigned !== null) return [assigned[1] ?? ''];
  const short = /^-([A-Za-z0-9]+)(.*)$/.exec(word);
  if (short === null) return [];
  const [, letters = '', rest = ''] = short;
  return [...letters].map((_, k) => `${letters.slice(k + 1)}${rest}`).filter((v) => v.includes('/'));
}

/**
 * The words of an exec the host may read as paths: the program when given as a path (`./tool`: a
 * symlink can make it another program), every operand, not only words with a / (`cat link` reads a
 * symlink in the login directory as surely as `cat ./link`), after `--` also those starting with -
 * (`cat -- -d/link`), and the value an option carries in its own word (`--file=/x`, `if=/x`,
 * `-f/x`: optionValues; `x=/y` is also a file name to most programs, so both are named).
 */
export function pathOperands(words: readonly string[]): string[] {
  const args = words.slice(1);
  const end = args.indexOf('--');
  const head = end < 0 ? args : args.slice(0, end);
  const tail = end < 0 ? [] : args.slice(end + 1);
  const named = head.flatMap((w) => [...(w.startsWith('-') ? [] : [w]), ...optionValues(w)]);
  const program = words[0] ?? '';
  return [...new Set([...(program.includes('/') ? [program] : []), ...named, ...tail].filter((w) => w !== ''))];
}

/**
 * Short options clustered as one word (-rf) as the separate options they are (-r -f), so `rm -rf *`
 * also matches `rm -fr x` and `rm -r -f x`. Long options and option values are kept whole.
 */
export function splitOptionClusters(words: readonly string[]): string[] {
  return words.flatMap((w) => (/^-[A-Za-z]{2,}$/.test(w) ? [...w.slice(1)].map((c) => `-${c}`) : [w]));
}

/** What runs legacy scp on a host: the bare name (OpenSSH's client sends it) or the system's own paths. */
const SYSTEM_SCP: ReadonlySet<string> = new Set(['scp', '/usr/bin/scp', '/bin/scp', '/usr/local/bin/scp']);

/**
 * Legacy scp (scp -O, or scp from OpenSSH before 9.0) runs the bare `scp -t PATH` (upload) or `scp -f
 * PATH...` (download, one or more sources) on the host. Recognized so it is judged as the file
 * transfer it is (SFTP write or read of each PATH), not as a command. `recursive` (-r) and
 * `toDirectory` (-d, several sources into one target) say that files below PATH are read or
 * written under names only the transfer carries.
 */
export function legacyScp(words: readonly string[]): { operation: 'read' | 'write'; paths: string[]; recursive: boolean; toDirectory: boolean } | undefined {
  // The bare name, as OpenSSH's scp sends it, or scp where the system installs it: any other
  // program called scp (scratch/scp, an upload) would be judged as a transfer of its own
  // arguments and run unjudged.
  if (!SYSTEM_SCP.has(words[0] ?? '')) return undefined;
  const { options, operands } = splitOptions(words.slice(1));
  const letters = options.join('');
  const upload = letters.includes('t');
  const download = letters.includes('f');
  if (upload === download || operands.length === 0 || (upload && operands.length !== 1)) return undefined;
  return { operation: upload ? 'write' : 'read', paths: operands, recursive: letters.includes('r'), toDirectory: letters.includes('d') };
}

/** Option clusters (without their dash) and operands; `--` ends the options. */
function splitOptions(args: readonly string[]): { options: string[]; operands: string[] } {
  const end = args.indexOf('--');
  const head = end < 0 ? args : args.slice(0, end);
  const tail = end < 0 ? [] : args.slice(end + 1);
  return {
    options: head.filter((w) => /^-[A-Za-z]+$/.test(w)).map((w) => w.slice(1)),
    operands: [...head.filter((w) => !/^-[A-Za-z]+$/.test(w)), ...tail],
  };
}
