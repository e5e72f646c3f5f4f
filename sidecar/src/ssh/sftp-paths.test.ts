// Path resolution fails closed through the real SFTP proxy and legacy scp handling
// (handleSessionChannel, startSftpProxy) and the real policy engine, against an in-process ssh2
// host whose answers to realpath the test writes: an error (with a host text naming a file), a
// permission denial, a symlink it cannot resolve, no answer at all, a closed channel, no SFTP
// subsystem. Each must deny the operation before the host is asked to run it, naming the path
// (masked) and why; before, each was judged as sent under the allowed tree and the host opened
// the file (or, with no answer, the agent's request waited forever).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import ssh2, { type Connection, type SFTPWrapper, type Stats } from 'ssh2';
import { compilePolicy, initPolicyEngine, type Command, type CompiledPolicy } from '../../../core/policy/index.ts';
import { connectAgent, execOnce, startChannelRig, testSession, type ChannelRig, type ExecResult } from '../../test/ssh-channel-rig.ts';
import type { Session } from '../enforcement.ts';
import { generateHostKey } from './host-key.ts';
import { sshTestPolicy } from '../../../core/policy/corpus/ssh-policy.ts';
import { absoluteSftpPath, namedPaths, namesLoginDirectory } from './sftp-paths.ts';

const { STATUS_CODE } = ssh2.utils.sftp;
const S_IFLNK = 0o120000;

let rig: ChannelRig | undefined;
let policy: CompiledPolicy;
/** Paths the host was asked to open. */
const opened: string[] = [];
/** Commands the policy was asked about. */
const judged: Command[] = [];
let hostHasSftp = true;

const SECRET_DIR = '/secret/cliente-529.982.247-25';
const CPF_DIR = '/data/cliente-529.982.247-25';
/**
 * Where the host takes a path through a symlink in the home (latest -> /secret/cliente-CPF/docs):
 * component by component, so `latest/..` is the link target's parent.
 */
const THROUGH_LINK: Record<string, string> = {
  '/home/u/latest': `${SECRET_DIR}/docs`,
  '/home/u/latest/..': SECRET_DIR,
  '/home/u/latest/../.': SECRET_DIR,
  '/home/u/latest/../../../home/u': '/home/u',
};
/** Paths the host was asked to resolve. */
const resolvedOnHost: string[] = [];

/** The host's realpath answers, by path. */
function answerRealpath(sftp: SFTPWrapper, id: number, path: string): void {
  const name = (p: string): void => { sftp.name(id, [{ filename: p, longname: p, attrs: {} as Stats }]); };
  const through = THROUGH_LINK[path];
  if (through !== undefined) return name(through);
  switch (path) {
    case '.': return name('/home/u');
    case '/data': case '/data/ok.txt': case CPF_DIR: return name(path);
    case '/data/err.txt': return void sftp.status(id, STATUS_CODE.FAILURE, 'cannot resolve /secret/590.830.166-33.txt');
    case '/data/eperm.txt': return void sftp.status(id, STATUS_CODE.PERMISSION_DENIED, 'denied');
    case '/data/silent.txt': return;
    case '/data/close.txt': return void sftp.end();
    default: return void sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file');
  }
}

function hostSftp(sftp: SFTPWrapper): void {
  sftp.on('REALPATH', (id: number, path: string) => { resolvedOnHost.push(path); answerRealpath(sftp, id, path); });
  sftp.on('LSTAT', (id: number, path: string) => {
    if (path === '/data/chain.txt') sftp.attrs(id, { mode: S_IFLNK | 0o777, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 });
    else sftp.status(id, STATUS_CODE.NO_SUCH_FILE, 'No such file');
  });
  sftp.on('OPEN', (id: number, path: string) => {
    opened.push(path);
    sftp.handle(id, Buffer.from([1]));
  });
  let sent = false;
  sftp.on('READ', (id: number) => {
    if (sent) return void sftp.status(id, STATUS_CODE.EOF);
    sent = true;
    sftp.data(id, Buffer.from('SECRET'));
  });
  sftp.on('CLOSE', (id: number) => sftp.status(id, STATUS_CODE.OK));
}

/** A session deciding with the real policy engine; an allowed request runs, a denied one answers the decision's reason. */
function policySession(): Session {
  return testSession({
    authorize: (command) => {
      judged.push(command);
      const d = policy.evaluate({ identity: { subject: 'u', groups: ['support'], kind: 'User' }, purpose: 'p', command });
      return Promise.resolve(d.decision === 'allow' ? { verdict: 'allow', decision: d, complete: () => Promise.resolve() } : { verdict: 'deny', decision: d, message: `denied: ${d.reason}` });
    },
  });
}

beforeAll(async () => {
  await initPolicyEngine();
  policy = compilePolicy(sshTestPolicy([
    { name: 'secrets', action: 'deny', match: { ssh: { paths: ['/secret/**'] } } },
    { name: 'data', action: 'allow', match: { ssh: { requests: ['sftp'], operations: ['read', 'write', 'stat'], paths: ['/data/**'] } } },
    { name: 'cat-data', action: 'allow', match: { ssh: { commands: ['cat /data/*', 'cat /data/* *'] } } },
  ]));
  const hostKey = generateHostKey();
  const host = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (conn: Connection) => {
    conn.on('authentication', (auth) => auth.accept());
    conn.on('session', (accept) => {
      const session = accept();
      session.on('sftp', (acceptSftp, rejectSftp) => (hostHasSftp ? hostSftp(acceptSftp()) : rejectSftp()));
      session.on('exec', (acceptExec) => { const s = acceptExec(); s.exit(0); s.end(); });
    });
  });
  rig = await startChannelRig(hostKey, host, undefined, { session: policySession, resolveTimeoutMs: 200 });
});

afterAll(() => { rig?.close(); });

const connect = (): Promise<ssh2.Client> => connectAgent(rig?.sidecarPort ?? 0);
/** As the agent: runs a command; its exit status and stderr. */
const exec = (command: string): Promise<ExecResult> => execOnce(rig?.sidecarPort ?? 0, command);

/** As the agent: opens `path` (for reading, or writing) over SFTP and reads it; the error text or what was read. */
async function openAndRead(path: string, mode: 'r' | 'w' = 'r'): Promise<string> {
  const agent = await connect();
  try {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => agent.sftp((err, s) => (err ? reject(err) : resolve(s))));
    return await new Promise<string>((resolve) => {
      sftp.on('close', () => resolve('closed'));
      sftp.open(path, mode, (err, handle) => {
        if (err) return resolve(`error: ${err.message}`);
        if (mode === 'w') return resolve('opened');
        const buf = Buffer.alloc(64);
        sftp.read(handle, buf, 0, 64, 0, (e, n) => resolve(e ? `error: ${e.message}` : buf.subarray(0, n).toString()));
      });
    });
  } finally {
    agent.end();
  }
}

describe('sftp paths the host does not resolve are denied before the host runs anything', () => {
  it('a resolved path under the allowed tree is opened and read', async () => {
    expect(await openAndRead('/data/ok.txt')).toBe('SECRET');
    expect(opened).toContain('/data/ok.txt');
  });

  it.each([
    ['/data/err.txt', 'the host answered an error (SFTP status 4)'],
    ['/data/eperm.txt', 'the host refused to resolve it (permission denied)'],
    ['/data/chain.txt', 'it is a symlink the host cannot resolve'],
    ['/data/silent.txt', 'the host did not answer within 0.2 s'],
  ])('%s: denied, naming the path and why (%s)', async (path, why) => {
    const answer = await openAndRead(path);
    expect(answer).toContain('could not resolve');
    expect(answer).toContain(path);
    expect(answer).toContain(why);
    expect(answer).toContain('rule "secrets"');
    // The host's own error text (which named a file with a CPF) is not passed on.
    expect(answer).not.toContain('590.830.166-33');
    expect(opened).not.toContain(path);
  });

  it('a host that closes its SFTP channel while asked to resolve: nothing is opened', async () => {
    const answer = await openAndRead('/data/close.txt');
    expect(answer === 'closed' || answer.startsWith('error:')).toBe(true);
    expect(opened).not.toContain('/data/close.txt');
  });

  it('a new file: its directory resolves, so the write is judged there and allowed', async () => {
    expect(await openAndRead('/data/new.txt', 'w')).toBe('opened');
    expect(opened).toContain('/data/new.txt');
    const last = judged.at(-1);
    expect(last).toMatchObject({ protocol: 'ssh', ssh: { kind: 'sftp', operation: 'write', path: '/data/new.txt', resolved: ['/data/new.txt'], unresolved: [] } });
  });
});

describe('path spellings', () => {
  it('a NUL or another control byte: refused as sent, the host is not asked to resolve or open it', async () => {
    const before = judged.length;
    for (const path of ['/data/ok.txt\u0000/../../secret/x', '/data/ok\u0001.txt']) {
      const answer = await openAndRead(path);
      expect(answer).toContain('control characters');
      expect(opened).not.toContain(path);
    }
    expect(judged.slice(before)).toEqual([expect.objectContaining({ ssh: expect.objectContaining({ resolved: [], unresolved: [] }) }), expect.anything()]);
  });
});

describe('legacy scp paths the host does not resolve are denied', () => {
  it('scp -f of a symlink the host cannot resolve: exit 126, the reason on stderr', async () => {
    const r = await exec('scp -f /data/chain.txt');
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('could not resolve /data/chain.txt');
  });

  it('a host without an SFTP subsystem: the path cannot be resolved, denied under path rules (not refused as unrecordable)', async () => {
    hostHasSftp = false;
    try {
      const r = await exec('scp -f /data/ok.txt');
      expect(r.code).toBe(126);
      expect(r.stderr).toContain('the host has no SFTP subsystem to resolve paths with');
    } finally {
      hostHasSftp = true;
    }
  });
});

describe('exec path arguments the host does not resolve are denied under argument globs', () => {
  it('cat of a resolved path runs; of a symlink the host cannot resolve, or one it answers an error for, is denied (exit 126) naming it', async () => {
    expect(await exec('cat /data/ok.txt')).toEqual({ code: 0, stderr: '' });
    for (const [path, why] of [['/data/chain.txt', 'it is a symlink the host cannot resolve'], ['/data/err.txt', 'the host answered an error (SFTP status 4)']] as const) {
      const r = await exec(`cat ${path}`);
      expect(r.code).toBe(126);
      expect(r.stderr).toContain(`could not resolve ${path}: ${why}`);
      expect(r.stderr).toContain('rule "cat-data" judges arguments');
    }
  });

  it('more path arguments than are resolved (32): the rest are unresolved, denied under argument globs', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `/data/f${i}.txt`).join(' ');
    const r = await exec(`cat ${many}`);
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('more than 32 path arguments');
  });

  it('a host without an SFTP subsystem: path arguments cannot be resolved, denied under argument globs', async () => {
    hostHasSftp = false;
    try {
      const r = await exec('cat /data/ok.txt');
      expect(r.code).toBe(126);
      expect(r.stderr).toContain('the host has no SFTP subsystem to resolve paths with');
    } finally {
      hostHasSftp = true;
    }
  });
});

describe('sftp-paths: the path the host is asked is the path judged', () => {
  it('namesLoginDirectory: the login directory spelled with extra / and . only', () => {
    for (const p of ['/home/u', '/home/u/', '/home/u/.', '//home//u/./', '/./home/u']) expect([p, namesLoginDirectory(p, '/home/u')]).toEqual([p, true]);
    expect(namesLoginDirectory('/', '/')).toBe(true);
    expect(namesLoginDirectory('/.', '/')).toBe(true);
  });

  it('namesLoginDirectory: never a path with `..`, though it folds to the login directory as text (the host takes `..` from a symlink\'s target)', () => {
    for (const p of ['/home/u/latest/..', '/home/u/latest/../.', '/home/x/../u', '/secret/c/../../home/u', '/home/u/..', '/home/u/../u', '/home/../home/u', '/..', '/home/u/a/b/../..']) {
      expect([p, namesLoginDirectory(p, '/home/u')]).toEqual([p, false]);
    }
    expect(namesLoginDirectory('/..', '/')).toBe(false);
  });

  it('namesLoginDirectory: other directories, and paths that are not absolute, are not the login directory', () => {
    for (const p of ['/home/u2', '/home', '/home/u/x', 'home/u', '.', '', '/home/u\u0000']) expect([p, namesLoginDirectory(p, '/home/u')]).toEqual([p, false]);
  });

  it('absoluteSftpPath: a relative path is joined to the login directory and folded; an absolute one is kept as written', () => {
    expect(absoluteSftpPath('/home/u', '.')).toBe('/home/u');
    expect(absoluteSftpPath('/home/u', '')).toBe('/home/u');
    expect(absoluteSftpPath('/home/u', 'latest/..')).toBe('/home/u');
    expect(absoluteSftpPath('/home/u', '../../etc/passwd')).toBe('/etc/passwd');
    expect(absoluteSftpPath('/home/u', '/home/u/latest/..')).toBe('/home/u/latest/..');
    expect(absoluteSftpPath('/home/u', '//x/./y/')).toBe('//x/./y/');
  });

  it('namedPaths: every path asks the host the string it is judged by; a link target is asked from the link\'s directory unfolded', () => {
    for (const p of ['/home/u/latest/../x', 'latest/../x', '/a//b/./c/', 'x']) {
      const [named] = namedPaths('/home/u', [p], { follows: false });
      expect(named?.ask).toBe(named?.sent);
      expect(named?.ask).toBe(absoluteSftpPath('/home/u', p));
    }
    expect(namedPaths('/home/u', ['/home/u/latest/l'], { follows: false, linkTarget: '../x' })).toEqual([
      { sent: '/home/u/latest/l', ask: '/home/u/latest/l', follows: false },
      // Sent: the policy's lexical form; asked: where the host takes it from (the link's real
      // directory), which is what the policy's resolved facts come from.
      { sent: '/home/u/x', ask: '/home/u/latest/../x', follows: true },
    ]);
    expect(namedPaths('/home/u', ['a', 'b'], { follows: true })).toEqual([
      { sent: '/home/u/a', ask: '/home/u/a', follows: true },
      { sent: '/home/u/b', ask: '/home/u/b', follows: true },
    ]);
  });
});

/** As the agent: realpath of `path` over SFTP; the name, or the error text. */
async function realpathOf(path: string): Promise<string> {
  const agent = await connect();
  try {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => agent.sftp((err, s) => (err ? reject(err) : resolve(s))));
    return await new Promise<string>((resolve) => sftp.realpath(path, (err, name) => resolve(err ? `error: ${err.message}` : name)));
  } finally {
    agent.end();
  }
}

describe('REALPATH: only the login directory itself is answered unjudged (round 10 review)', () => {
  it('the login directory, spelled with . and / only: answered as the host named it at start, not asked again', async () => {
    for (const p of ['.', '', '/home/u', '/home/u/', '/home/u/.', '//home/u']) {
      resolvedOnHost.length = 0;
      expect([p, await realpathOf(p)]).toEqual([p, '/home/u']);
      // The sidecar's own realpath(".") at start, nothing for the agent's request.
      expect(resolvedOnHost).toEqual(['.']);
    }
  });

  it.each([
    '/home/u/latest/..', '/home/u/latest/../.', '/home/u/latest/../../../home/u',
  ])('%s folds to the login directory as text, but the host takes it through a symlink: judged as the stat, denied, nothing of the target told', async (p) => {
    const answer = await realpathOf(p);
    expect(answer).toMatch(/^error: /);
    expect(answer).not.toContain('529.982.247-25');
    expect(answer).not.toContain('/secret/cliente');
    const last = judged.at(-1);
    expect(last).toMatchObject({ ssh: { kind: 'sftp', operation: 'stat', path: p } });
  });

  it('a relative `latest/..` is folded by the sidecar before the host and the policy see it: the login directory', async () => {
    expect(await realpathOf('latest/..')).toBe('/home/u');
  });

  it('a path the policy allows stat of is answered by the host, judged as the stat', async () => {
    expect(await realpathOf(CPF_DIR)).toBe(CPF_DIR);
    expect(judged.at(-1)).toMatchObject({ ssh: { kind: 'sftp', operation: 'stat', path: CPF_DIR, resolved: [CPF_DIR] } });
  });

  it('the answer\'s display name (longname) is masked as listings are; the name the agent addresses by is kept', async () => {
    const agent = await connect();
    try {
      const longname = await new Promise<string>((resolve, reject) => agent.subsys('sftp', (err, ch) => {
        if (err) return reject(err);
        let buf = Buffer.alloc(0);
        const frame = (type: number, body: Buffer): Buffer => { const h = Buffer.alloc(5); h.writeUInt32BE(body.length + 1, 0); h[4] = type; return Buffer.concat([h, body]); };
        const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n, 0); return b; };
        ch.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) return;
          const type = buf[4];
          const payload = buf.subarray(5, 4 + buf.readUInt32BE(0));
          buf = buf.subarray(4 + buf.readUInt32BE(0));
          // VERSION: ask REALPATH; NAME: id, count, filename, longname.
          if (type === 2) ch.write(frame(16, Buffer.concat([u32(1), u32(CPF_DIR.length), Buffer.from(CPF_DIR)])));
          else if (type === 104) {
            const fl = payload.readUInt32BE(8);
            const filename = payload.subarray(12, 12 + fl).toString();
            const ll = payload.readUInt32BE(12 + fl);
            expect(filename).toBe(CPF_DIR);
            resolve(payload.subarray(16 + fl, 16 + fl + ll).toString());
          } else reject(new Error(`unexpected answer type ${type}`));
        });
        ch.write(frame(1, u32(3)));
      }));
      expect(longname).not.toContain('529.982.247-25');
      expect(longname).toContain('/data/cliente-');
    } finally {
      agent.end();
    }
  });
});
