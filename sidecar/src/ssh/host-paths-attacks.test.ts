// Round 5 review: attacks on the SSH path decisions (host-paths.ts, sftp.ts, session-channel.ts)
// through the real SFTP proxy, the real exec handling and the real policy engine, against an
// in-process ssh2 host whose file tree the test writes. The login directory holds `link`, a
// symlink to /secret/x.txt, and a directory named `-d` holding another; /data holds `moved`, a
// link that now leads to /secret (made allowed, then renamed where its relative target climbs out).
// Every way of reaching /secret must be denied before the host runs or opens anything.
import { posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import ssh2, { type Connection, type SFTPWrapper, type Stats } from 'ssh2';
import { compilePolicy, initPolicyEngine, type CompiledPolicy } from '../../../core/policy/index.ts';
import { connectAgent, execOnce, startChannelRig, testSession, type ChannelRig, type ExecResult } from '../../test/ssh-channel-rig.ts';
import type { Session } from '../enforcement.ts';
import { generateHostKey } from './host-key.ts';
import { pathOperands } from '../../../core/policy/ssh-command.ts';
import { sshTestPolicy } from '../../../core/policy/corpus/ssh-policy.ts';

const { STATUS_CODE } = ssh2.utils.sftp;

const CPF = '590.830.166-33';

/** Where the host's realpath leads each existing path (symlinks already followed). */
const TREE: Record<string, string> = {
  '.': '/home/u', '/home/u': '/home/u', '/home/u/link': '/secret/x.txt', '/home/u/-d': '/home/u/-d', '/home/u/-d/link': '/secret/x.txt',
  '/home/u/report.txt': '/home/u/report.txt', '/data': '/data', '/data/ok.txt': '/data/ok.txt', '/data/moved': '/secret/x.txt',
  '/data/to-secret': '/secret/x.txt', '/secret': '/secret', '/secret/x.txt': '/secret/x.txt',
  // A host whose realpath answers without normalising (some SFTP servers join a link's relative target).
  '/data/odd.txt': '/data/../secret/x.txt',
  '/home/u/private': '/home/u/private', '/home/u/private/x.txt': '/home/u/private/x.txt',
  // Programs given as paths: a link to rm, and a plain tool.
  '/home/u/tool': '/bin/rm', '/home/u/tool2': '/home/u/tool2',
};
/** Names that are symlinks (lstat). */
const LINKS = new Set(['/home/u/link', '/home/u/-d/link', '/data/moved', '/data/to-secret']);
/** Paths whose realpath the host answers with an error naming the file (a CPF in its name). */
const ERRORS = new Set([`/data/${CPF}.txt`]);
/** Paths whose realpath the host never answers. */
const SILENT = new Set(['/data/silent.txt']);

let rig: ChannelRig | undefined;
let policy: CompiledPolicy;
/** What the host was asked to run or touch: exec commands, SFTP opens, renames, links, extended requests. */
const hostDid: string[] = [];

function hostSftp(sftp: SFTPWrapper): void {
  const name = (id: number, p: string): void => { sftp.name(id, [{ filename: p, longname: p, attrs: {} as Stats }]); };
  sftp.on('REALPATH', (id: number, path: string) => {
    if (SILENT.has(path)) return;
    if (ERRORS.has(path)) return void sftp.status(id, STATUS_CODE.FAILURE, `cannot resolve /secret/${CPF}.txt`);
    // A real host's realpath folds . and // itself.
    const real = TREE[path === '.' ? path : posix.normalize(path)];
    return real === undefined ? void sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file') : name(id, real);
  });
  sftp.on('LSTAT', (id: number, path: string) => {
    if (TREE[path] === undefined && !LINKS.has(path)) return void sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file');
    sftp.attrs(id, { mode: (LINKS.has(path) ? 0o120000 : 0o100000) | 0o644, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 });
  });
  sftp.on('STAT', (id: number, path: string) => {
    if (TREE[path] === undefined) return void sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file');
    sftp.attrs(id, { mode: 0o100644, uid: 0, gid: 0, size: 6, atime: 0, mtime: 0 });
  });
  sftp.on('OPEN', (id: number, path: string) => { hostDid.push(`open ${path}`); sftp.handle(id, Buffer.from([1])); });
  sftp.on('READ', (id: number) => sftp.status(id, STATUS_CODE.EOF));
  sftp.on('CLOSE', (id: number) => sftp.status(id, STATUS_CODE.OK));
  sftp.on('RENAME', (id: number, from: string, to: string) => { hostDid.push(`rename ${from} ${to}`); sftp.status(id, STATUS_CODE.OK); });
  sftp.on('SYMLINK', (id: number, a: string, b: string) => { hostDid.push(`symlink ${a} ${b}`); sftp.status(id, STATUS_CODE.OK); });
  sftp.on('EXTENDED', (id: number, request: string) => { hostDid.push(`extended ${request}`); sftp.status(id, STATUS_CODE.OK); });
}

/** What happens on the host while an approver decides (the test's swap of a link), before the approval allows. */
let duringApproval: () => void = () => undefined;

function policySession(): Session {
  return testSession({
    authorize: (command, hooks) => {
      const d = policy.evaluate({ identity: { subject: 'u', groups: ['support'], kind: 'User' }, purpose: 'p', command });
      if (d.decision === 'requireApproval' && hooks?.onApprovalPending !== undefined) {
        // As the enforcer does with GUARITA_APPROVAL_WAIT: says it waits, and the approver approves.
        hooks.onApprovalPending('areq-1', 'waiting for approval');
        duringApproval();
        return Promise.resolve({ verdict: 'allow', decision: d, complete: () => Promise.resolve() });
      }
      return Promise.resolve(d.decision === 'allow' ? { verdict: 'allow', decision: d, complete: () => Promise.resolve() } : { verdict: 'deny', decision: d, message: `denied: ${d.reason}` });
    },
  });
}

beforeAll(async () => {
  await initPolicyEngine();
  policy = compilePolicy(sshTestPolicy([
    { name: 'secret-files', action: 'deny', match: { ssh: { paths: ['/secret/**'] } } },
    { name: 'secret-commands', action: 'deny', match: { ssh: { commands: ['* /secret/*', '* /home/u/private/*'] } } },
    { name: 'work', action: 'allow', match: { ssh: { requests: ['sftp'], paths: ['/data/**', '/home/u/**'] } } },
    { name: 'reports-need-approval', action: 'requireApproval', approval: { approverGroups: ['dpo'] }, match: { ssh: { commands: ['cat /data/reports/*'] } } },
    { name: 'cat-any', action: 'allow', match: { ssh: { commands: ['cat *'] } } },
    { name: 'no-rm', action: 'deny', match: { ssh: { commands: ['rm *'] } } },
    { name: 'tools', action: 'allow', match: { ssh: { commands: ['./tool* *'] } } },
  ]));
  const hostKey = generateHostKey();
  const host = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (conn: Connection) => {
    conn.on('authentication', (auth) => auth.accept());
    conn.on('session', (accept) => {
      const session = accept();
      session.on('sftp', (acceptSftp) => hostSftp(acceptSftp()));
      session.on('exec', (acceptExec, _reject, info) => { hostDid.push(`exec ${info.command}`); const s = acceptExec(); s.exit(0); s.end(); });
    });
  });
  rig = await startChannelRig(hostKey, host, undefined, { session: policySession, resolveTimeoutMs: 2000 });
});

afterAll(() => { rig?.close(); });

const connect = (): Promise<ssh2.Client> => connectAgent(rig?.sidecarPort ?? 0);
/** As the agent: runs a command; its exit status and stderr. */
const exec = (command: string): Promise<ExecResult> => execOnce(rig?.sidecarPort ?? 0, command);

/** As the agent, over one SFTP channel: `use` runs requests on it. */
async function withSftp<T>(use: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
  const agent = await connect();
  try {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => agent.sftp((err, s) => (err ? reject(err) : resolve(s))));
    return await use(sftp);
  } finally {
    agent.end();
  }
}

/** The status an SFTP request ends with: 'ok' or the error's code and message. */
function outcome(call: (cb: (err: (Error & { code?: unknown }) | null | undefined) => void) => void): Promise<string> {
  return new Promise((resolve) => call((err) => resolve(err ? `${String(err.code)} ${err.message}` : 'ok')));
}

describe('exec arguments without a / (after --, starting with -; option values) are resolved where the host leads them', () => {
  it('pathOperands names every operand: bare names, ./ names, and after -- those starting with -', () => {
    expect(pathOperands(['cat', 'link'])).toEqual(['link']);
    expect(pathOperands(['cat', '-n', '--', '-d/link', '-x'])).toEqual(['-d/link', '-x']);
    expect(pathOperands(['df', '-h'])).toEqual([]);
    expect(pathOperands(['grep', '--file=/data/l', '-f./l', '-n5', '-rf', 'if=/x', 'pat'])).toEqual(['/data/l', './l', 'if=/x', '/x', 'pat']);
    expect(pathOperands(['tar', '-xf/d/a.tar'])).toEqual(['f/d/a.tar', '/d/a.tar']);
  });

  it.each([
    ['cat link', 'a bare name in the login directory that is a symlink to /secret'],
    ['cat -- -d/link', 'a name starting with - after --'],
    ['cat ./link', 'the same link spelled with ./'],
    ['cat /home/u/link', 'the same link, absolute'],
    ['cat /data/odd.txt', 'a host answering /data/../secret/x.txt'],
    ['cat --file=link', 'a long option\'s value that is the link'],
    ['cat -f./link', 'a short option\'s attached value'],
    ['cat if=/home/u/link', 'a dd-style value'],
    ['cat private/x.txt', 'a relative path (no link) under a denied absolute glob'],
    ['cat ./private/x.txt', 'the same with ./'],
    ['cat --file=private/x.txt', 'the same as an option value'],
  ])('%s (%s): denied by the /secret/* command rule, the host runs nothing', async (command) => {
    hostDid.length = 0;
    const r = await exec(command);
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('secret-commands');
    expect(hostDid.filter((d) => d.startsWith('exec '))).toEqual([]);
  });

  it('a bare name that is a plain file, or that does not exist, still runs (the host is asked, nothing is unresolved)', async () => {
    hostDid.length = 0;
    expect(await exec('cat report.txt')).toEqual({ code: 0, stderr: '' });
    expect(await exec('cat missing.txt')).toEqual({ code: 0, stderr: '' });
    expect(hostDid).toEqual(['exec cat report.txt', 'exec cat missing.txt']);
  });
});

describe('a program given as a path is judged where the host leads it', () => {
  it('./tool, a link to /bin/rm: denied by the rule on rm, the host runs nothing; ./tool2 (a plain file) runs', async () => {
    hostDid.length = 0;
    const r = await exec('./tool -rf /data');
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('no-rm');
    expect(await exec('./tool2 /data/ok.txt')).toEqual({ code: 0, stderr: '' });
    expect(hostDid).toEqual(['exec ./tool2 /data/ok.txt']);
  });
});

describe('exec forms the shell would expand or redirect are refused before the host is asked', () => {
  it.each([
    'cat $(echo /secret/x.txt)', 'cat `echo /secret/x.txt`', 'cat < /secret/x.txt', 'cd /secret && cat x.txt', 'cat /secret/*',
    'sh -c \'cat /secret/x.txt\'', 'env cat /secret/x.txt', 'cat "$HOME/link"', 'cat ~/link', 'cat ~root/x', 'X=/secret cat x',
    'cat /data/ok.txt; cat /secret/x.txt', 'cat /data/ok.txt | tee /secret/x.txt', 'cat /data/ok.txt\ncat /secret/x.txt',
  ])('%s: refused (exit 126), the host runs nothing', async (command) => {
    hostDid.length = 0;
    const r = await exec(command);
    expect(r.code).toBe(126);
    expect(hostDid).toEqual([]);
  });
});

describe('denial texts never carry an unmasked identifier from a file name', () => {
  it('an exec argument the host answers an error for: the CPF in its name (and in the host text) is masked on stderr', async () => {
    hostDid.length = 0;
    const r = await exec(`cat /data/${CPF}.txt`);
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('could not resolve /data/');
    expect(r.stderr).not.toContain(CPF);
    expect(r.stderr).not.toContain('590.830.166');
    expect(hostDid).toEqual([]);
  });

  it('an SFTP open of the same name: the status message names it masked', async () => {
    const r = await withSftp((sftp) => outcome((cb) => sftp.open(`/data/${CPF}.txt`, 'r', (err) => cb(err))));
    expect(r).toMatch(/^3 /);
    expect(r).not.toContain('590.830.166');
  });
});

describe('sftp requests that reach /secret through a link, a rename or a symlink are denied', () => {
  it('realpath of a link into /secret does not tell the agent where it leads (the target\'s name can carry a CPF); of plain paths it answers', async () => {
    TREE['/data/cpf-link'] = `/secret/cliente-${CPF}.txt`;
    const realpath = (p: string): Promise<string> => withSftp((sftp) => new Promise((resolve) => sftp.realpath(p, (err, r) => resolve(err ? `${String((err as { code?: unknown }).code)} ${err.message}` : r))));
    const r = await realpath('/data/cpf-link');
    expect(r).not.toContain('590.830.166');
    expect(r).toMatch(/^3 .*secret-files/);
    expect(await realpath('/data/ok.txt')).toBe('/data/ok.txt');
    expect(await realpath('.')).toBe('/home/u');
    expect(await realpath('/data/./x/..//ok.txt')).toBe('/data/ok.txt');
    expect(await realpath('/home/u')).toBe('/home/u');
  });

  it('realpath under /secret is no existence oracle: a name that exists and one that does not get the same denial, before the host is asked', async () => {
    const realpath = (p: string): Promise<string> => withSftp((sftp) => new Promise((resolve) => sftp.realpath(p, (err, r) => resolve(err ? `${String((err as { code?: unknown }).code)} ${err.message}` : r))));
    const there = await realpath('/secret/x.txt');
    const absent = await realpath('/secret/cliente-000.000.000-00.txt');
    expect(there).toMatch(/^3 .*secret-files/);
    expect(absent).toMatch(/^3 .*secret-files/);
  });

  it('a host answering /data/../secret/x.txt for a path under /data: the read is denied', async () => {
    hostDid.length = 0;
    const r = await withSftp((sftp) => outcome((cb) => sftp.open('/data/odd.txt', 'r', (err) => cb(err))));
    expect(r).toMatch(/^3 .*secret-files/);
    expect(hostDid).toEqual([]);
  });

  it('a new file 17 missing directories deep: unresolved (16 are walked), denied; 3 deep is judged where /data resolves', async () => {
    hostDid.length = 0;
    const deep = `/data/${Array.from({ length: 17 }, (_, i) => `d${i}`).join('/')}/f.txt`;
    const r = await withSftp((sftp) => outcome((cb) => sftp.open(deep, 'w', (err) => cb(err))));
    expect(r).toMatch(/^3 .*more than 16 directories of it do not exist/);
    expect(await withSftp((sftp) => outcome((cb) => sftp.open('/data/a/b/c/f.txt', 'w', (err) => cb(err))))).toBe('ok');
    expect(hostDid).toEqual(['open /data/a/b/c/f.txt']);
  });

  it('reading through a link that now leads to /secret (made allowed, then renamed): denied at read time', async () => {
    hostDid.length = 0;
    const r = await withSftp((sftp) => outcome((cb) => sftp.open('/data/moved', 'r', (err) => cb(err))));
    expect(r).toMatch(/^3 .*secret-files/);
    expect(hostDid).toEqual([]);
  });

  it('rename onto /secret, or of a name whose link leads there: denied, the host renames nothing', async () => {
    hostDid.length = 0;
    expect(await withSftp((sftp) => outcome((cb) => sftp.rename('/data/ok.txt', '/secret/y.txt', cb)))).toMatch(/^3 /);
    expect(await withSftp((sftp) => outcome((cb) => sftp.rename('/data/to-secret', '/data/plain', cb)))).toMatch(/^3 /);
    expect(hostDid).toEqual([]);
  });

  it('a symlink whose target is /secret, written absolute or climbing from the link\'s directory: denied', async () => {
    hostDid.length = 0;
    expect(await withSftp((sftp) => outcome((cb) => sftp.symlink('/secret/x.txt', '/data/l1', cb)))).toMatch(/^3 /);
    expect(await withSftp((sftp) => outcome((cb) => sftp.symlink('../secret/x.txt', '/data/l2', cb)))).toMatch(/^3 /);
    expect(hostDid).toEqual([]);
  });

  it('every SFTP extension (rename, hardlink, copy-data, expand-path, home-directory, statvfs, fsync, lsetstat, limits, users-groups-by-id) is refused, never sent to the host', async () => {
    hostDid.length = 0;
    const results = await withSftp(async (sftp) => {
      // The sidecar advertises no extensions; the agent's ssh2 is told they exist, so it sends them.
      const ext = (sftp as unknown as { _extensions: Record<string, string> })._extensions;
      for (const n of ['posix-rename@openssh.com', 'hardlink@openssh.com', 'statvfs@openssh.com', 'fstatvfs@openssh.com', 'fsync@openssh.com', 'lsetstat@openssh.com', 'expand-path@openssh.com', 'copy-data', 'home-directory', 'users-groups-by-id@openssh.com', 'limits@openssh.com']) ext[n] = n.includes('statvfs') ? '2' : '1';
      const s = sftp as unknown as Record<string, (...a: unknown[]) => void>;
      const call = (m: string, ...a: unknown[]): Promise<string> => outcome((cb) => { const f = s[m]; if (typeof f !== 'function') return cb(new Error(`no ${m}`)); f.call(sftp, ...a, cb); });
      return [
        await call('ext_openssh_rename', '/data/ok.txt', '/secret/y.txt'),
        await call('ext_openssh_hardlink', '/secret/x.txt', '/data/h'),
        await call('ext_openssh_statvfs', '/secret'),
        await call('ext_openssh_expandPath', '~/link'),
        await call('ext_openssh_lsetstat', '/secret/x.txt', { mode: 0o777 }),
        await call('ext_home_dir', 'root'),
        await call('ext_users_groups', [0], [0]),
      ];
    });
    for (const r of results) expect(r).toMatch(/^8 /);
    expect(hostDid).toEqual([]);
  });
});

describe('a path resolved before an approval wait', () => {
  it('is resolved again once approved: a link swapped to /secret while the approver decided is refused, the host runs nothing', async () => {
    TREE['/data/reports'] = '/data/reports';
    TREE['/data/reports/q3.txt'] = '/data/reports/q3.txt';
    duringApproval = () => { TREE['/data/reports/q3.txt'] = '/secret/x.txt'; };
    hostDid.length = 0;
    try {
      const r = await exec('cat /data/reports/q3.txt');
      expect(r.code).toBe(126);
      expect(r.stderr).toContain('changed while it waited for approval');
      expect(hostDid).toEqual([]);
    } finally {
      duringApproval = () => undefined;
    }
  });

  it('runs when nothing moved during the wait', async () => {
    TREE['/data/reports/q4.txt'] = '/data/reports/q4.txt';
    hostDid.length = 0;
    const r = await exec('cat /data/reports/q4.txt');
    expect(r.code).toBe(0);
    expect(hostDid).toEqual(['exec cat /data/reports/q4.txt']);
  });
});

describe('a host that never answers a resolution holds only its own request', () => {
  it('while one connection waits on a silent host, another connection\'s command is judged and run; the silent one then fails closed', async () => {
    hostDid.length = 0;
    let firstDone = false;
    const first = exec('cat /data/silent.txt').then((r) => { firstDone = true; return r; });
    expect(await exec('cat /data/ok.txt')).toEqual({ code: 0, stderr: '' });
    expect(firstDone).toBe(false);
    const r = await first;
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('did not answer');
    expect(hostDid).toEqual(['exec cat /data/ok.txt']);
  });
});
