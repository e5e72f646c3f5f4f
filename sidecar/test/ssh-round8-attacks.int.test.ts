// Round 8 review of the SSH target (adversarial), end to end: the real OpenSSH server
// (e2e/harness/sshd.ts), the real ssh and sftp clients as the agent, the real sidecar and
// operator. Every test here failed on the code as reviewed (docs/security-model.md, "Round 8 review: the SSH target again").
//
// The policy: a secret tree denied to every SFTP operation and to every command naming it; under
// the purpose customer-support, a scratch directory the agent may read and write over SFTP and a
// few diagnostics (`cat` of the data tree, `git *`); under the purpose ops, every other exec
// (allow-the-rest after the deny, the pattern core/policy/ssh.test.ts uses). The secret holds a
// marker and a CPF.
//
// 1. A program merely named `scp` is taken for the host's legacy scp: `SCRATCH/scp -f SCRATCH/scp`
//    is judged as an SFTP read of SCRATCH/scp (allowed), no command rule is consulted, and its
//    output is passed as an scp transfer: unmasked and not recorded as frames.
// 2. Programs that run a command or program text given in their arguments and are not in
//    COMMAND_RUNNERS / INLINE_CODE_OPTIONS: `rbash -c`, `python3 -m timeit STMT`,
//    `perl -MMod;code`.
// 3. An allowed program that starts a pager when given a pty (`git log`, the example policy's
//    `journalctl *` and `systemctl status *`): with `ssh -t`, less's `!cmd` runs any command on the
//    host, unjudged (the sidecar refuses `less` itself for exactly this reason).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { fetchExport, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess, type TargetSpec } from './support.ts';

jest.setTimeout(120_000);

const id = suffix();
const ns = `sc-sshr8-${id}`;
const opNs = `sc-sshr8op-${id}`;
const POLICY = 'files-host';
const PURPOSE = 'customer-support';
const OPS = 'ops';
const SECRET = 'TOP-SECRET-CONTENT';
const CPF = '529.982.247-25';

let op: OperatorProcess;
let sshd: SshdHandle;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let work: string;
let data: string;
let secret: string;
let scratch: string;
let repo: string;
let sshConfig: string;
let agentEnv: NodeJS.ProcessEnv;

interface Run { code: number | null; stdout: string; stderr: string }

function agent(program: 'ssh' | 'sftp', args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(program, ['-F', sshConfig, ...args], { env: agentEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

const ssh = (purpose: string, command: string): Promise<Run> => agent('ssh', [`${purpose}@${POLICY}`, command]);

let batches = 0;
function sftpBatch(lines: string[]): Promise<Run> {
  const batch = join(work, `batch-${batches++}`);
  writeFileSync(batch, `${lines.join('\n')}\n`);
  return agent('sftp', ['-o', 'BatchMode=no', '-b', batch, `${PURPOSE}@${POLICY}`]);
}

/**
 * `ssh -tt` (a pty, as `ssh -t` from a terminal asks for) running `command`; once the output
 * contains `ready`, types each of `keys` a second apart. Resolves with everything shown.
 */
function typed(purpose: string, command: string, ready: string, keys: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('ssh', ['-F', sshConfig, '-tt', `${purpose}@${POLICY}`, command], { env: { ...agentEnv, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let started = false;
    const typeNext = (rest: string[]): void => {
      const [k, ...more] = rest;
      if (k === undefined) {
        setTimeout(() => child.stdin.end(), 1000);
        return;
      }
      child.stdin.write(k);
      setTimeout(() => typeNext(more), 1000);
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      if (!started && stdout.includes(ready)) {
        started = true;
        setTimeout(() => typeNext(keys), 500);
      }
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

function policy(listenPort: number): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name: POLICY, protocol: 'ssh', endpoint: `127.0.0.1:${sshd.port}`, listenPort, credentialsSecretRef: { name: `${POLICY}-credentials` } },
      identity: { oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: PURPOSE }, { name: OPS }],
      rules: [
        { name: 'secret-files', match: { ssh: { paths: [`${secret}/**`] } }, action: 'deny' },
        { name: 'secret-commands', match: { ssh: { commands: [`* ${secret}/*`] } }, action: 'deny' },
        { name: 'scratch-files', purposes: [PURPOSE], match: { ssh: { requests: ['sftp'], operations: ['read', 'write', 'stat', 'list', 'setstat'], paths: [`${scratch}/**`] } }, action: 'allow' },
        { name: 'diagnostics', purposes: [PURPOSE], match: { ssh: { commands: [`cat ${data}/*`, 'git *'] } }, action: 'allow' },
        { name: 'ops-rest', purposes: [OPS], match: { ssh: { requests: ['exec'] } }, action: 'allow' },
      ],
      masking: { style: 'partial' },
    },
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-r8-${id}-`));
  data = join(work, 'data');
  secret = join(work, 'secret');
  scratch = join(work, 'scratch');
  repo = join(work, 'repo');
  for (const d of [data, secret, scratch, repo]) mkdirSync(d, { recursive: true });
  writeFileSync(join(secret, 'customers.txt'), `${SECRET} cliente cpf=${CPF}\n`);
  writeFileSync(join(data, 'ok.txt'), 'fine\n');
  // A repository with more history than one screen: git log pages it through less.
  execFileSync('git', ['init', '-q', repo]);
  for (let i = 0; i < 40; i++) execFileSync('git', ['-C', repo, '-c', 'user.name=dev', '-c', 'user.email=dev@example.com', 'commit', '-q', '--allow-empty', '-m', `change ${i}`]);

  sshd = await startSshd(join(work, 'sshd'));
  await installCrds();
  const opFx = await operatorFixture(opNs);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  await grantSessionReaders(ns, { kind: 'User', name: 'audrey' });
  op = await startOperator({ ...opFx, watchNamespaces: [ns] });
  await waitServing(op);
  const credentials = { username: sshd.user, 'ssh-privatekey': sshd.clientKey, known_hosts: sshd.knownHosts };
  const [listenPort = 0] = await freePorts(1);
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: credentials }, policy(listenPort)]);
  fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, credentials);
  const sshDir = join(fx.dir, 'ssh');
  sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: POLICY, target: POLICY, protocol: 'ssh', listenPort } as unknown as TargetSpec], operatorUrl: op.url,
    env: { GUARITA_SSH_DIR: sshDir },
  });
  sshConfig = join(sshDir, POLICY, 'ssh_config');
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, await getToken({ clientId: 'support-agent', audience: 'guarita' }), { mode: 0o600 });
  const askpass = join(work, 'askpass.sh');
  writeFileSync(askpass, `#!/bin/sh\nexec cat ${tokenFile}\n`, { mode: 0o700 });
  agentEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
}, 240_000);

afterAll(async () => {
  await sidecar?.stop();
  await Promise.all([op?.stop(), sshd?.stop()]);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the policy holds where the review expected it to (controls)', () => {
  it('cat of the secret (and bash -c of it under ops) is denied; cat of the data tree runs', async () => {
    const r = await ssh(PURPOSE, `cat ${secret}/customers.txt`);
    expect(r.code).toBe(126);
    expect(r.stdout).not.toContain(SECRET);
    expect(await ssh(PURPOSE, `cat ${data}/ok.txt`)).toMatchObject({ code: 0, stdout: 'fine\n' });
    expect((await ssh(OPS, `bash -c 'cat ${secret}/customers.txt'`)).code).toBe(126);
  });

  it('a program uploaded to scratch, run under its own name, is denied (no rule allows it)', async () => {
    const local = join(work, 'tool.sh');
    writeFileSync(local, `#!/bin/sh\ncat ${secret}/customers.txt\n`, { mode: 0o755 });
    const up = await sftpBatch([`put ${local} ${scratch}/tool`, `chmod 755 ${scratch}/tool`]);
    expect(up.code).toBe(0);
    const r = await ssh(PURPOSE, `${scratch}/tool -f ${scratch}/tool`);
    expect(r.code).toBe(126);
    expect(r.stdout).not.toContain(SECRET);
  });
});

describe('finding 1: a program named scp is judged as a legacy scp transfer (an SFTP read), unmasked', () => {
  it('an uploaded script named scp, run with -f on an allowed file, does not read the secret', async () => {
    const local = join(work, 'fake-scp.sh');
    writeFileSync(local, `#!/bin/sh\ncat ${secret}/customers.txt\n`, { mode: 0o755 });
    const up = await sftpBatch([`put ${local} ${scratch}/scp`, `chmod 755 ${scratch}/scp`]);
    expect(up.code).toBe(0);
    const r = await ssh(PURPOSE, `${scratch}/scp -f ${scratch}/scp`);
    // On the reviewed code: exit 0 and stdout `TOP-SECRET-CONTENT cliente cpf=529.982.247-25`,
    // the CPF unmasked (transfer bytes bypass the masker), recorded as an scp download of SCRATCH/scp.
    expect(r.stdout).not.toContain(CPF);
    expect(r.stdout).not.toContain(SECRET);
    expect(r.code).toBe(126);
  });

  it('it is recorded as the command it is, denied, never as an scp download', async () => {
    await ssh(PURPOSE, `${scratch}/scp -f ${scratch}/scp`);
    const records = await eventually('the fake scp\'s records at the operator', async () => {
      const exported = await fetchExport(op.url, ns);
      const mine = exported.records.filter((x) => x.type === 'command' && (x.command ?? '').includes(`scp -f ${scratch}/scp`));
      return mine.length >= 2 ? exported.records : undefined;
    }, 30_000, 500);
    const sessions = new Set(records.filter((x) => x.type === 'command' && (x.command ?? '').includes(`scp -f ${scratch}/scp`)).map((x) => x.sessionId));
    const ofThem = records.filter((x) => sessions.has(x.sessionId));
    const text = JSON.stringify(ofThem);
    // On the reviewed code the command record said `the scp download (sftp read) is allowed by rule
    // "scratch-files"`, result { bytes: 46, status: 0 }, and no stream record followed (transfer
    // mode): what the script printed was recorded nowhere.
    const fakes = records.filter((x) => x.type === 'command' && (x.command ?? '').includes(`scp -f ${scratch}/scp`));
    expect(fakes.every((x) => x.decision === 'deny')).toBe(true);
    expect(text).not.toContain('scp download');
    expect(text).not.toContain(SECRET);
  });
});

describe('finding 2: programs that run a command or program text from their arguments pass the parser', () => {
  it.each([
    ['rbash -c (Debian: /bin/rbash -> bash)', () => `rbash -c 'cat ${secret}/customers.txt'`],
    ['python3 -m timeit STMT', () => `python3 -m timeit -n1 -r1 "__import__('os').system('cat ${secret}/customers.txt')"`],
    ['perl -MMod;code', () => `perl '-MPOSIX;system(q(cat ${secret}/customers.txt))' /dev/null`],
  ])('%s under an allow-the-rest policy does not read the denied tree', async (_name, command) => {
    const r = await ssh(OPS, command());
    // On the reviewed code: exit 0, the secret's marker printed (its CPF masked: exec output is).
    expect(r.stdout).not.toContain(SECRET);
    expect(r.code).toBe(126);
  });
});

describe('finding 3: an allowed program that pages its output through less, given a pty, is a shell', () => {
  it('git log with ssh -t runs without a terminal when no shell is allowed: less\'s !command cannot run a denied command', async () => {
    const r = await typed(PURPOSE, `git -C ${repo} log`, 'change 39', [`!cat ${secret}/customers.txt\r`, '\r', 'q']);
    // On the reviewed code: the pager runs `cat SECRET/customers.txt` and the marker is on the screen.
    expect(r.stdout).toContain('change 39');
    expect(r.stdout).not.toContain(SECRET);
  });
});

// Round 8b, a review of the round 8 fixes (same set-up and policy): each finding test failed on 5534712.
describe('round 8b (a review of the round 8 fixes): controls', () => {
  it('cat of the secret is denied; the round 8 spellings are refused', async () => {
    expect((await ssh(OPS, `cat ${secret}/customers.txt`)).code).toBe(126);
    expect((await ssh(OPS, `perl '-MPOSIX;system(q(cat ${secret}/customers.txt))' /dev/null`)).code).toBe(126);
    expect((await ssh(OPS, `python3 -m pdb -c "import os;os.system('cat ${secret}/customers.txt')" -c q /usr/lib/python3.11/this.py`)).code).toBe(126);
  });
});

describe('findings A and B: program text from the arguments, under spellings the round 8 fix missed', () => {
  it.each([
    ['perl -d:Peek;code', () => `perl '-d:Peek;system(q(cat ${secret}/customers.txt))' /dev/null`],
    ['pdb3 -c CMD (python3 -m pdb)', () => `pdb3 -c "import os;os.system('cat ${secret}/customers.txt')" -c q /usr/lib/python3.11/this.py`],
  ])('%s under an allow-the-rest policy does not read the denied tree', async (_name, command) => {
    const r = await ssh(OPS, command());
    // On the reviewed code: exit 0 and the secret's marker printed (the CPF masked: exec output is).
    expect(r.stdout).not.toContain(SECRET);
    expect(r.code).toBe(126);
  });
});
