// Round 10 review of the SSH target (adversarial), end to end: the real OpenSSH server
// (e2e/harness/sshd.ts, internal-sftp), the real sidecar process and operator, a raw ssh2 client as
// the agent (it sends what OpenSSH's clients would not: SFTP requests by hand, a reader that stops).
// Each "finding" test fails on the code as reviewed, for the reason its comment gives.
//
// The policy: a secret tree denied to every SFTP operation and to every command naming it; under
// the purpose customer-support, a scratch directory the agent may read and write over SFTP; under
// the purpose ops, every other exec (allow-the-rest after the deny). Nothing allows `stat` of the
// login directory or of the secret tree.
//
// 1. SFTP REALPATH of a path that folds, as text, to the login directory is answered unjudged
//    (sftp.ts REALPATH: `posix.resolve(asked) === home`), but the host resolves it component by
//    component, following symlinks: `link/..` names the parent of where a link in the home leads
//    (an identifier in that name comes back unmasked), and `SECRET/NAME/../../../root` tells
//    whether SECRET/NAME exists (answered /root) or not (an error). Round 5 closed exactly that
//    oracle for a plain realpath.
// 2. SFTP READ requests are served without bound: each allocates up to 256 KiB before the host is
//    asked, and the answers are queued for the agent whether it reads them or not. ~30 bytes of
//    request make 256 KiB of sidecar memory; a thousand pipelined READs by an agent that does not
//    read take the sidecar past the injected pod's 256 MiB.
// 3. Exec and shell backpressure covers stdout only: when the agent stops reading, host.pause()
//    stops the host's stdout stream, but host.stderr keeps flowing (ssh2 adjusts the channel
//    window as the stderr stream is consumed), and everything the host writes to stderr is queued
//    in the sidecar for the agent. docs/ssh.md: "memory stays bounded however large the output".
// 4. Remote forwards (ssh -R, allowed here by a `tunnels` rule under ops): the request's record is
//    completed at once with an empty result, and each connection the host hands back is spliced
//    with a no-op completion: its bytes are recorded nowhere (docs/ssh.md: "Forwarded connections
//    are recorded with their destination and byte count"). And the host's listener outlives the
//    rule: after a policy change that no longer allows the forward, new connections still reach
//    the agent for the connection's life.
// 6. An interpreter with no script argument (`perl`, `perl -`, `python3`, `python3 -`) reads its
//    program from stdin: under allow-the-rest it reads the denied tree, where `bash` (a
//    COMMAND_RUNNER, which also reads stdin) and `perl -e` (inline code) are refused.
// 5. A legacy scp upload (scp -O, judged as an SFTP write) is recorded with `bytes` = what the
//    host's scp answered (its acknowledgements, 3 bytes), not what was written to the host.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import ssh2, { type ClientChannel, type SFTPWrapper } from 'ssh2';
import { freePorts } from '../../e2e/harness/ports.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { SshScenario, forwardIn, hostTree, rawOpen, reviewPolicy, sftpOf, sftpRead, type SshPolicySpec } from './ssh-scenario.ts';
import { fetchExport } from './support.ts';

jest.setTimeout(180_000);

const ssh = new SshScenario('sshr10', 'files-host');
const { id, ns } = ssh;
const POLICY = ssh.policyName;
const PURPOSE = 'customer-support';
const OPS = 'ops';
const CPF = '529.982.247-25';
const OTHER_CPF = '111.444.777-35';

let work: string;
let secret: string;
let scratch: string;
let homeLink: string;

const spec = (tunnels = true): SshPolicySpec => reviewPolicy({ secret, scratch, purpose: PURPOSE, ops: OPS, tunnels });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-r10-${id}-`));
  ({ secret, scratch } = hostTree(work, CPF));
  // A file the agent may read, larger than the reads below ask for.
  writeFileSync(join(scratch, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 0x61));
  // A script an allowed exec runs (ops may run any program): it writes 160 MiB to stderr.
  writeFileSync(join(work, 'stderr-flood.pl'), 'my $b = ("x" x 65535) . "\\n"; for (1..2560) { print STDERR $b; }\n');
  // The same on stdout: the control (stdout is throttled).
  writeFileSync(join(work, 'stdout-flood.pl'), 'my $b = ("x" x 65535) . "\\n"; for (1..2560) { print STDOUT $b; }\n');
  // The host account's home (the SFTP login directory) holds a link into the secret tree, as a
  // host's "latest export" link would. Unique name; removed in afterAll.
  homeLink = join(homedir(), `guarita-r10-${id}`);
  symlinkSync(join(secret, `cliente-${CPF}`, 'docs'), homeLink);
  await ssh.start(work, spec());
}, 240_000);

afterAll(async () => {
  if (homeLink !== undefined) rmSync(homeLink, { force: true });
  await ssh.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

/** What a REALPATH (or STAT) request came back with: the name, or the error's status code and text. */
type Answer = { name: string } | { code: unknown; message: string };
function realpath(s: SFTPWrapper, p: string): Promise<Answer> {
  return new Promise((resolve) => s.realpath(p, (err, name) => resolve(err ? { code: (err as { code?: unknown }).code, message: err.message } : { name })));
}
function stat(s: SFTPWrapper, p: string): Promise<Answer> {
  return new Promise((resolve) => s.stat(p, (err) => resolve(err ? { code: (err as { code?: unknown }).code, message: err.message } : { name: 'stat ok' })));
}

describe('controls: the policy holds where the review expected it to', () => {
  it('stat and realpath of the secret tree and of the home link are denied; scratch is readable', async () => {
    const c = await ssh.connectAgent(PURPOSE);
    try {
      const s = await sftpOf(c);
      expect(await stat(s, `${secret}/cliente-${CPF}`)).toMatchObject({ code: ssh2.utils.sftp.STATUS_CODE.PERMISSION_DENIED });
      expect(await realpath(s, `${secret}/cliente-${CPF}`)).toMatchObject({ code: ssh2.utils.sftp.STATUS_CODE.PERMISSION_DENIED });
      expect(await realpath(s, posix.basename(homeLink))).toMatchObject({ code: ssh2.utils.sftp.STATUS_CODE.PERMISSION_DENIED });
      expect(await stat(s, posix.basename(homeLink))).toMatchObject({ code: ssh2.utils.sftp.STATUS_CODE.PERMISSION_DENIED });
      expect(await stat(s, `${scratch}/big.bin`)).toEqual({ name: 'stat ok' });
      // The login directory itself is answered (sftp asks for "." at start).
      expect(await realpath(s, '.')).toEqual({ name: homedir() });
    } finally {
      c.end();
    }
  });
});

describe('finding 1: REALPATH of a path that folds to the login directory is answered unjudged', () => {
  it('realpath HOME/LINK/.. does not name where a link in the home leads (the CPF in that name, unmasked)', async () => {
    const c = await ssh.connectAgent(PURPOSE);
    try {
      const s = await sftpOf(c);
      // Absolute: a relative path is joined with posix.join, which folds the `..` before the host
      // sees it; an absolute one is sent as written.
      const r = await realpath(s, `${homeLink}/..`);
      // On the reviewed code: { name: `${secret}/cliente-529.982.247-25` }, the secret tree's
      // directory named with its CPF, unmasked, where realpath and stat of the link are denied.
      expect(JSON.stringify(r)).not.toContain(CPF);
      expect(JSON.stringify(r)).not.toContain(secret);
      expect(r).toMatchObject({ code: ssh2.utils.sftp.STATUS_CODE.PERMISSION_DENIED });
    } finally {
      c.end();
    }
  });

  it('realpath SECRET/NAME/../../..HOME does not tell whether SECRET/NAME exists', async () => {
    const c = await ssh.connectAgent(PURPOSE);
    try {
      const s = await sftpOf(c);
      const through = (name: string): string => {
        const dir = `${secret}/${name}`;
        const climb = '../'.repeat(dir.split('/').filter(Boolean).length);
        const p = `${dir}/${climb}${homedir().slice(1)}`;
        expect(posix.resolve(p)).toBe(homedir());
        return p;
      };
      const existing = await realpath(s, through(`cliente-${CPF}`));
      const missing = await realpath(s, through(`cliente-${OTHER_CPF}`));
      // On the reviewed code: existing is { name: '/root' } (the host walked through the secret
      // tree's directory), missing is NO_SUCH_FILE: whether a customer's directory exists in the
      // denied tree, which the stat the policy denies would have told.
      expect(existing).toEqual(missing);
      expect(existing).toMatchObject({ code: ssh2.utils.sftp.STATUS_CODE.PERMISSION_DENIED });
    } finally {
      c.end();
    }
  });
});

/** Connects to the host's 127.0.0.1:`port` (the test runs on the host), sends `bytes` bytes, and ends. */
function sendToHost(port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(Buffer.alloc(bytes, 0x62)));
    s.on('error', reject);
    s.resume();
    s.on('close', () => resolve());
  });
}

describe('finding 4: connections through a remote forward (ssh -R)', () => {
  it('are recorded with their byte count, as local forwards and docs/ssh.md say', async () => {
    const [port = 0] = await freePorts(1);
    const c = await ssh.connectAgent(OPS);
    let received = 0;
    let connections = 0;
    c.on('tcp connection', (_info, accept) => {
      connections++;
      const ch = accept();
      ch.on('data', (d: Buffer) => { received += d.length; });
      ch.on('end', () => ch.end());
    });
    try {
      expect(await forwardIn(c, port)).toBeUndefined();
      await sendToHost(port, 65_536);
      await eventually('the forwarded bytes at the agent', () => Promise.resolve(received >= 65_536 ? true : undefined), 20_000, 100);
      expect(connections).toBe(1);
    } finally {
      c.end();
    }
    const records = await eventually('the remote forward\'s record at the operator', async () => {
      const exported = await fetchExport(ssh.op.url, ns);
      const mine = exported.records.filter((x) => x.type === 'command' && (x.command ?? '').startsWith('remoteForward ') && (x.command ?? '').endsWith(`:${port}`));
      return mine.length > 0 ? { all: exported.records, mine } : undefined;
    }, 30_000, 500);
    // Let anything the connection's end writes reach the operator too.
    await new Promise((r) => setTimeout(r, 3000));
    const session = records.mine[0]?.sessionId;
    const exported = await fetchExport(ssh.op.url, ns);
    const ofSession = exported.records.filter((x) => x.sessionId === session);
    // (The address is masked in records: `remoteForward 127.0.*.*:PORT`.) On the reviewed code: one
    // record, `remoteForward 127.0.*.*:PORT` allowed, result {} (completed
    // as the host started listening); the connection the host handed back and its 65,536 bytes are
    // recorded nowhere (forward.ts splices it with a no-op completion).
    // Round 12b: each handed-back connection's open is a command record written before it carries a
    // byte (two remoteForward records: the listener's and the connection's), and its bytes are the
    // note of its end on the session's stream, tied to it by the command's SHA-256.
    const opens = ofSession.filter((x) => x.type === 'command' && (x.command ?? '').startsWith('remoteForward ') && x.decision === 'allow');
    expect(opens.length).toBeGreaterThanOrEqual(2);
    // Round 12c: the end note is a frame of its own kind (`n`), which output cannot write.
    const notes = ofSession.filter((x) => x.type === 'stream' && x.commandSha256 === opens[0]?.commandSha256).flatMap((x) => (x.frames ?? []).filter((f) => f.ch === 'n').map((f) => f.data));
    expect(notes.some((t) => Number(/closed: (\d+) bytes/.exec(t)?.[1] ?? 0) >= 65_536)).toBe(true);
    // The note shows the address as the command record does: masked.
    expect(notes.join('')).not.toContain('127.0.0.1');
  });

  it('stop handing the host\'s connections to the agent once the policy no longer allows the forward', async () => {
    const [port = 0, probe = 0] = await freePorts(2);
    const c = await ssh.connectAgent(OPS);
    let connections = 0;
    c.on('tcp connection', (_info, accept) => {
      connections++;
      const ch = accept();
      ch.resume();
      ch.on('end', () => ch.end());
    });
    try {
      expect(await forwardIn(c, port)).toBeUndefined();
      await sendToHost(port, 10);
      await eventually('the first connection at the agent', () => Promise.resolve(connections === 1 ? true : undefined), 20_000, 100);
      // The rule that allowed it is removed; once the sidecar enforces that, a new forward is refused.
      await apply([ssh.policy(spec(false))]);
      await eventually('the sidecar refuses new remote forwards', async () => {
        const other = await ssh.connectAgent(OPS);
        try {
          return (await forwardIn(other, probe)) === undefined ? undefined : true;
        } finally {
          other.end();
        }
      }, 60_000, 1000);
      await sendToHost(port, 10).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 2000));
      // On the reviewed code: 2. The host keeps listening for the connection's life and every new
      // connection is handed to the agent (unjudged, unrecorded), though no rule allows the tunnel
      // any more; SFTP handles are judged again after a policy change (round 5), forwards are not.
      expect(connections).toBe(1);
    } finally {
      c.end();
      await apply([ssh.policy(spec(true))]);
      await eventually('the restored policy is in force', async () => {
        const other = await ssh.connectAgent(OPS);
        try {
          return (await forwardIn(other, probe)) === undefined ? true : undefined;
        } finally {
          other.end();
        }
      }, 60_000, 1000);
    }
  });
});

describe('finding 5: a legacy scp upload (scp -O) is recorded with the bytes the host answered, not the bytes written', () => {
  it('the record of scp -O LOCAL host:SCRATCH/x carries the size uploaded', async () => {
    const local = join(work, 'legacy-up.bin');
    writeFileSync(local, Buffer.alloc(200_000, 0x63));
    const r = await ssh.scp(['-O', local, `${PURPOSE}@${POLICY}:${scratch}/legacy-up.bin`]);
    expect(r).toMatchObject({ code: 0 });
    expect(existsSync(join(scratch, 'legacy-up.bin'))).toBe(true);
    const upload = await eventually('the upload\'s record at the operator', async () => {
      const exported = await fetchExport(ssh.op.url, ns);
      return exported.records.find((x) => x.type === 'command' && /^scp .*-t/.test(x.command ?? '') && (x.command ?? '').includes('legacy-up.bin') && x.result !== undefined);
    }, 30_000, 500);
    // On the reviewed code: decision allow (the scratch rule, as an sftp write), result
    // { bytes: 3, status: 0 }: session-channel.ts pump records bytesOut (what the host's scp sent
    // back: its acknowledgements); the 200,000 bytes written to the host are counted (bytesIn) and
    // dropped. A download's record (scp -f) carries the file's size; an upload's says nothing of it.
    expect(upload.decision).toBe('allow');
    expect((upload.result as { bytes?: number }).bytes ?? 0).toBeGreaterThanOrEqual(200_000);
  });
});

describe('finding 6: an interpreter given no script reads its program from stdin, which nobody judges', () => {
  it('control: the same program text inline, and a shell reading stdin, are refused', async () => {
    const code = `open(F, "<${secret}/cliente-${CPF}/docs/contrato.txt"); print "MARK:", <F>;`;
    expect((await ssh.execWithInput(OPS, `cat ${secret}/cliente-${CPF}/docs/contrato.txt`, '')).code).toBe(126);
    expect((await ssh.execWithInput(OPS, `perl -e '${code}'`, '')).code).toBe(126);
    expect((await ssh.execWithInput(OPS, 'bash', `cat ${secret}/cliente-${CPF}/docs/contrato.txt\n`)).code).toBe(126);
  });

  it.each([
    ['perl (no arguments)', 'perl', () => `open(F, "<${secret}/cliente-${CPF}/docs/contrato.txt"); print "MARK:", <F>;\n`],
    ['perl -', 'perl -', () => `open(F, "<${secret}/cliente-${CPF}/docs/contrato.txt"); print "MARK:", <F>;\n`],
    ['python3 (no arguments)', 'python3', () => `print("MARK:" + open("${secret}/cliente-${CPF}/docs/contrato.txt").read())\n`],
    ['python3 -', 'python3 -', () => `print("MARK:" + open("${secret}/cliente-${CPF}/docs/contrato.txt").read())\n`],
  ])('%s under an allow-the-rest policy does not read the denied tree', async (_name, command, program) => {
    const r = await ssh.execWithInput(OPS, command, program());
    // On the reviewed code: exit 0 and stdout `MARK:cpf=***.***.***-25` (the file's line, the CPF
    // masked as all exec output is): the program text came on stdin, recorded as typed input and
    // never judged; `bash` reading the same stdin is refused (COMMAND_RUNNERS), perl -e is refused
    // (INLINE_CODE_OPTIONS), but an interpreter with no script argument is neither.
    expect(r.stdout).not.toContain('MARK:');
    expect(r.code).toBe(126);
  });
});

// --- floods: last, each on its own connection (the sidecar's memory is what they measure) ---

/** Runs `command` under ops and never reads its output; the sidecar's RSS growth while it runs, in MiB. */
async function unreadExecGrowth(command: string): Promise<number> {
  const c = await ssh.connectAgent(OPS);
  try {
    const before = await ssh.rssMiB();
    // The agent never reads the channel's stdout or stderr (no listener, nothing resumed).
    await new Promise<void>((resolve, reject) => c.exec(command, (err) => (err ? reject(err) : resolve())));
    return (await ssh.peakRss(20_000)) - before;
  } finally {
    c.end();
    await new Promise((r) => setTimeout(r, 2000));
  }
}

describe('control: an exec whose agent stops reading its stdout is throttled', () => {
  it('an allowed program writing 160 MiB to stdout to an agent that does not read keeps the sidecar within 64 MiB more memory', async () => {
    expect(await unreadExecGrowth(`perl ${work}/stdout-flood.pl`)).toBeLessThan(64);
  });
});

describe('finding 3: an exec whose agent stops reading is throttled on stdout only, not on stderr', () => {
  it('an allowed program writing 160 MiB to stderr to an agent that does not read keeps the sidecar within 64 MiB more memory', async () => {
    // On the reviewed code: the sidecar's RSS grows by well over 100 MiB (329 MiB in one run):
    // stdout is paused when the agent's window is full, host.stderr is not, so the host's stderr
    // is read as fast as the host writes it and queued in the agent channel's stderr stream.
    expect(await unreadExecGrowth(`perl ${work}/stderr-flood.pl`)).toBeLessThan(64);
  });
});

describe('finding 3, another way in: an agent that opens a huge window and stops reading its socket', () => {
  it('an allowed program writing 160 MiB to stdout keeps the sidecar within 64 MiB more memory (the agent connection\'s socket backlog throttles the host too)', async () => {
    // ssh2's server writes channel data to the socket whenever the channel's window allows; an agent
    // that grants a 4 GiB window and never reads made the sidecar queue everything in the socket's
    // user-space buffer (the channel streams never said "full"). The agent here is ssh2 with one
    // window adjustment sent by hand, then its socket paused.
    const c = await ssh.connectAgent(OPS);
    try {
      const before = await ssh.rssMiB();
      const ch = await new Promise<ClientChannel>((resolve, reject) => c.exec(`perl ${work}/stdout-flood.pl`, (err, stream) => (err ? reject(err) : resolve(stream))));
      const internals = c as unknown as { _protocol: { channelWindowAdjust(id: number, amount: number): void }; _sock: { pause(): void } };
      const remote = (ch as unknown as { outgoing: { id: number } }).outgoing.id;
      internals._protocol.channelWindowAdjust(remote, 0xffffffff - 2 * 1024 * 1024);
      internals._sock.pause();
      expect((await ssh.peakRss(20_000)) - before).toBeLessThan(64);
    } finally {
      c.end();
      await new Promise((r) => setTimeout(r, 2000));
    }
  });
});

describe('finding 2: SFTP READs are served without bound (an agent that pipelines them and does not read)', () => {
  it('2,048 pipelined READs of 256 KiB on an allowed file do not take the sidecar past 64 MiB more memory', async () => {
    const c = await ssh.connectAgent(PURPOSE);
    try {
      const { ch, handle } = await rawOpen(c, `${scratch}/big.bin`);
      const before = await ssh.rssMiB();
      const size = 8 * 1024 * 1024;
      const reads: Buffer[] = [];
      for (let i = 0; i < 2048; i++) reads.push(sftpRead(100 + i, handle, (i * 256 * 1024) % size, 256 * 1024));
      // About 60 KiB of requests in all, written at once; the agent reads none of the answers.
      ch.write(Buffer.concat(reads));
      const peak = await ssh.peakRss(15_000);
      // On the reviewed code: the sidecar's RSS grows by hundreds of MiB (341 MiB for 1,024 READs
      // when run first, 107 to 154 MiB after the stderr flood's heap; every READ
      // gets its own buffer and its answer is queued for an agent that does not read), past the
      // injected proxy's whole 256 MiB limit; nothing stops reading the agent's requests.
      expect(peak - before).toBeLessThan(64);
    } finally {
      c.end();
    }
  });
});
