import { describe, expect, it } from '@jest/globals';
import { legacyScp, parseCommandLine, splitOptionClusters } from './ssh-command.ts';

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
    ['scp -t /tmp/in', { operation: 'write', path: '/tmp/in' }],
    ['scp -r -d -t -- /tmp/in', { operation: 'write', path: '/tmp/in' }],
    ['scp -f /var/backups/db.sql', { operation: 'read', path: '/var/backups/db.sql' }],
    ['/usr/bin/scp -pf /var/backups/db.sql', { operation: 'read', path: '/var/backups/db.sql' }],
    ['scp /a /b', undefined],
    ['scp -f /a /b', undefined],
    ['scp -tf /a', undefined],
  ])('%s', (line, expected) => {
    expect(legacyScp(words(line))).toEqual(expected);
  });
});
