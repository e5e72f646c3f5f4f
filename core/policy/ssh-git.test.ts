// Git's ways of running a command named in the exec's own words (round 9: left open in round 8's
// notes as "git runners"). Each refused line ran `cat /var/backups/...` or any command on a host
// where a policy allowed `git *` and denied that tree; the allowed lines are what agents run.
import { describe, expect, it } from '@jest/globals';
import { parseCommandLine } from './ssh-command.ts';

function problemOf(line: string): string | undefined {
  const parsed = parseCommandLine(line);
  return parsed.ok ? undefined : parsed.problem;
}

describe('git subcommands and options that run a command are refused', () => {
  it.each([
    ["git difftool -x 'cat /var/backups/customers.csv' HEAD~1", 'git difftool runs'],
    ['git difftool --extcmd=id HEAD', 'git difftool runs'],
    ['git difftool -y -t vimdiff', 'git difftool runs'],
    ['git mergetool --tool=vimdiff', 'git mergetool runs'],
    ["git rebase -x 'cat /var/backups/x' HEAD~3", 'git rebase runs'],
    ['git rebase --exec=id main', 'git rebase runs'],
    ['git rebase -ix id main', 'git rebase runs'],
    ["git -C /srv/repo rebase --exec 'id' main", 'git rebase runs'],
    ["git grep -O'cat /var/backups/x' pattern", 'git grep runs'],
    ['git grep --open-files-in-pager=id pattern', 'git grep runs'],
    ["git bisect run sh -c 'cat /var/backups/x'", 'git bisect run'],
    ["git submodule foreach 'cat /var/backups/x'", 'git submodule foreach'],
    ["git submodule --quiet foreach 'id'", 'git submodule foreach'],
    ["git filter-branch --tree-filter 'cat /var/backups/x' HEAD", 'git filter-branch runs'],
    ['git send-email --sendmail-cmd=id x.patch', 'git send-email runs'],
    ['git instaweb --httpd=id', 'git instaweb runs'],
    ['git archive --remote=x --exec=id HEAD', 'git archive runs'],
    ['git fetch-pack --exec=id x', 'git fetch-pack runs'],
    ['git help -w log', 'git help runs'],
    ["git clone 'ext::sh -c id% >&2' dir", 'ext:: or fd::'],
    ['git ls-remote fd::3', 'ext:: or fd::'],
    ["git config alias.x '!cat /var/backups/x'", 'git config writes'],
    ["git config core.pager 'cat /var/backups/x'", 'git config writes'],
    ["git config --global diff.x.command 'id'", 'git config writes'],
    ["git config set core.pager 'id'", 'git config writes'],
    ['git config --add alias.x !id', 'git config writes'],
    ['git config -f .git/config core.editor id', 'git config writes'],
    ['git config --edit', 'git config writes'],
    ['git --git-dir /srv/repo/.git config pager.log id', 'git config writes'],
  ])('%j', (line, why) => {
    // Some were refused before by the global table (core.*, alias.*, --open-files-in-pager): any git reason will do.
    expect(problemOf(line)).toMatch(new RegExp(`${why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|^git runs commands from -c`));
  });
});

describe('ordinary git commands still run', () => {
  it.each([
    'git log --oneline -n 20',
    'git status',
    'git diff HEAD~1 -- src/app.ts',
    'git cherry-pick -x abc123',
    'git clean -nx',
    'git grep -n pattern',
    'git config --get user.name',
    'git config user.name',
    'git config --list',
    'git config -f .gitmodules --get submodule.x.path',
    'git bisect start HEAD HEAD~10',
    'git submodule status',
    'git rebase main',
    'git -C /srv/repo show HEAD:README.md',
    'git help log',
  ])('%j', (line) => {
    expect(problemOf(line)).toBeUndefined();
  });
});
