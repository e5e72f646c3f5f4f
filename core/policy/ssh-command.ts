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
 * Interpreters and their options that take program text inline (python -c, perl -e, ...): the
 * text can run anything, so a command with one is refused; a script file path is judged as usual.
 */
/** Programs, by name pattern, that run code or commands from their arguments (pdb3.11 is python -m pdb). */
const RUNNER_NAME_PATTERNS: readonly RegExp[] = [/^pdb[0-9.]*$/];

/** Python standard-library modules run as script files that run their arguments as code (timeit.py STMT, pdb.py -c CMD). */
const PYTHON = /^(python|pypy)[0-9.]*$/;
const PYTHON_CODE_RUNNERS = /(^|\/)(timeit|code|pdb|trace|profile|cProfile|runpy|doctest)\.py$/;

const INLINE_CODE_OPTIONS: ReadonlyArray<{ programs: RegExp; options: RegExp }> = [
  // -m runs a module with the arguments: timeit and code run their arguments as Python, pdb too.
  { programs: /^(python|pypy)[0-9.]*$/, options: /^-[A-Za-z]*[cm]/ },
  // -M/-m load a module as `use MODULE ...;`, and `-MPOSIX;system(...)` appends code to it; -d:MOD
  // is `use Devel::MOD...;` the same way (-d:Peek;system(...), round 8b review). Any option word
  // with a `;` is code for the same reason.
  { programs: /^perl[0-9.]*$/, options: /^-(?:[A-Za-z]*(?:[eEmM]|d[:=])|.*;)/ },
  { programs: /^ruby[0-9.]*$/, options: /^-[A-Za-z]*e/ },
  { programs: /^(node|nodejs|deno|bun)$/, options: /^(-[A-Za-z]*[ep]|--eval|--print|eval$|-e=|--eval=)/ },
  { programs: /^php[0-9.]*$/, options: /^-[A-Za-z]*[rRBFE]/ },
  { programs: /^(lua|luajit)[0-9.]*$/, options: /^-[A-Za-z]*e/ },
  { programs: /^(R|Rscript)$/, options: /^(-e|--expr)/ },
];

/** awk program text that runs commands or touches other files: system(), pipes, redirections, getline, gawk extensions. */
const AWK = /^(awk|gawk|mawk|nawk|busybox-awk)$/;
const AWK_DANGER = /system|\||>|<|getline|@|ENVIRON|PROCINFO/;

/** Options of ordinary programs that make them run another command given as their value. */
const RUNNER_OPTIONS: ReadonlyArray<{ program: RegExp; option: RegExp; why: string }> = [
  { program: /^g?tar$/, option: /^(--to-command|--checkpoint-action|--use-compress-program|--info-script|--new-volume-script|--rsh-command|--rmt-command|-I|-F)|^-[A-Za-z]*[IF]/, why: 'tar runs the command given to --to-command, --checkpoint-action, -I or -F' },
  { program: /^rsync$/, option: /^(-e|--rsh|--rsync-path)|^-[A-Za-z]*e/, why: 'rsync runs the command given to -e or --rsync-path' },
  { program: /^git$/, option: /^(-c|--config-env|--exec-path|--upload-pack|--receive-pack|-u|--ext-diff|--textconv|--open-files-in-pager)|^-[A-Za-z]*c|^core\.|^alias\./, why: 'git runs commands from -c configuration (core.pager, core.sshCommand, alias.x=!cmd), --upload-pack or --exec-path' },
  { program: /^zip$/, option: /^(-TT|--unzip-command)/, why: 'zip runs the command given to -TT' },
  // GNU sed's e command and s///e flag run commands; r, w (and the w flag) read and write other files.
  { program: /^(sed|gsed)$/, option: /(^|[;}0-9$/!,\s])[eErRwW](\s|$|;|\/)|^s\/.*\/[gpiImM0-9]*[eEwW]|^-[A-Za-z]*f|^--file/, why: 'sed runs commands with its e command or s///e flag, reads or writes other files with r and w, and -f reads a script the policy cannot see' },
  { program: /^(ssh-keygen|ssh-agent|openssl)$/, option: /^(-D|engine|-engine|--engine)$/, why: 'the program loads code named in its arguments' },
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
  if (COMMAND_RUNNERS.has(name) || RUNNER_NAME_PATTERNS.some((r) => r.test(name))) return refuse(`${name} runs another command given in its arguments`);
  if (name === 'find' && words.some((w) => /^-(exec|execdir|ok|okdir|fprint|fprint0|fprintf|fls|delete)$/.test(w))) return refuse('find -exec (or -delete, -fprint) runs another command or changes files given in its arguments');
  const runner = programRunsCode(name, words.slice(1));
  if (runner !== undefined) return refuse(runner);
  return { ok: true, words };
}

/** Why a program runs code or another command given in its arguments, if it does. */
function programRunsCode(name: string, args: readonly string[]): string | undefined {
  const inline = INLINE_CODE_OPTIONS.find((i) => i.programs.test(name));
  // Every word is read (a script's own -m option too): an option's value (python -W ignore -c ...)
  // would otherwise end the scan before the option that runs code.
  if (inline !== undefined && args.some((a) => inline.options.test(a))) return `${name} runs program text given in its arguments`;
  if (PYTHON.test(name) && args.some((a) => PYTHON_CODE_RUNNERS.test(a))) return `${name} runs a standard-library module that runs its arguments as code`;
  if (AWK.test(name) && args.some((a) => AWK_DANGER.test(a))) return `${name} program text that runs commands or opens other files (system, |, >, <, getline)`;
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
