// Round 8b review of the round 8 SSH fixes (5534712), end to end: the real OpenSSH server, the real
// ssh/sftp clients, the real sidecar and operator (the round 8 file's set-up). Each finding test
// failed on 5534712 (docs/security-model.md, "Round 8 review: the SSH target again").
// A. perl -d:MOD;code: perl evaluates PERL5DB="use Devel::MOD;code" (the -M injection the round 8
//    fix refused, under another option).
// B. pdb3 -c CMD script: Debian's name for `python3 -m pdb`, which the round 8 fix refused.
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
import { mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess, type TargetSpec } from './support.ts';

jest.setTimeout(120_000);

const id = suffix();
const ns = `sc-sshr8b-${id}`;
const opNs = `sc-sshr8bop-${id}`;
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
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-r8b-${id}-`));
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


describe('controls', () => {
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
