// SSH path decisions fail closed when the host cannot resolve a path, end to end: the real OpenSSH
// server upstream (e2e/harness/sshd.ts, internal-sftp), the real sftp and scp clients (SFTP mode
// and legacy -O) as the agent, the real sidecar and operator. The policy allows a data tree and
// denies a secret one. The host's sftp-server follows at most 32 symlinks when it resolves a path
// (realpath) while the kernel follows 40 when the path is opened: a chain of 36 links under the
// data tree to the secret file cannot be resolved by the host, yet opens. Before, a path that did
// not resolve was judged as sent (under the allowed tree) and the agent read or wrote the secret.
// Legacy scp into a directory or with -r writes and reads names only the transfer carries: a
// symlink below the directory led the host's scp to the secret. Allowed workflows keep working.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
const ns = `sc-sshpath-${id}`;
const opNs = `sc-sshpathop-${id}`;
const POLICY = 'files-host';
const PURPOSE = 'customer-support';
const SECRET = 'TOP-SECRET-CONTENT';
/** More links than sftp-server's realpath follows (32), fewer than the kernel's open does (40). */
const CHAIN = 36;
/** A link name carrying a CPF: the denial shows it masked. */
const CPF_NAME = 'cliente-590.830.166-33.log';

let op: OperatorProcess;
let sshd: SshdHandle;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let work: string;
let data: string;
let secret: string;
let sshConfig: string;
let agentEnv: NodeJS.ProcessEnv;

interface Run { code: number | null; stdout: string; stderr: string }

function agent(program: 'ssh' | 'scp' | 'sftp', args: string[]): Promise<Run> {
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

let batches = 0;
/** sftp -b with these commands; stops at the first that fails. */
function sftpBatch(lines: string[]): Promise<Run> {
  const batch = join(work, `batch-${batches++}`);
  writeFileSync(batch, `${lines.join('\n')}\n`);
  return agent('sftp', ['-o', 'BatchMode=no', '-b', batch, `${PURPOSE}@${POLICY}`]);
}

const remote = (path: string): string => `${PURPOSE}@${POLICY}:${path}`;

/** A chain of `length` symlinks in `dir` named prefix0..prefixN, prefix0 pointing at `target`; returns the last. */
function chain(dir: string, prefix: string, target: string, length = CHAIN): string {
  mkdirSync(dir, { recursive: true });
  symlinkSync(target, join(dir, `${prefix}0`));
  for (let i = 1; i <= length; i++) symlinkSync(join(dir, `${prefix}${i - 1}`), join(dir, `${prefix}${i}`));
  return join(dir, `${prefix}${length}`);
}

function policy(listenPort: number): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name: POLICY, protocol: 'ssh', endpoint: `127.0.0.1:${sshd.port}`, listenPort, credentialsSecretRef: { name: `${POLICY}-credentials` } },
      identity: { oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: PURPOSE }],
      rules: [
        { name: 'secrets', match: { ssh: { paths: [`${secret}/**`] } }, action: 'deny' },
        { name: 'data-files', match: { ssh: { requests: ['sftp'], operations: ['read', 'write', 'list', 'stat', 'mkdir', 'setstat', 'readlink'], paths: [`${data}/**`] } }, action: 'allow' },
        { name: 'secret-commands', match: { ssh: { commands: [`* ${secret}/*`] } }, action: 'deny' },
        { name: 'read-data', match: { ssh: { commands: [`cat ${data}/*`] } }, action: 'allow' },
        { name: 'diagnostics', match: { ssh: { commands: ['true'] } }, action: 'allow' },
      ],
      masking: { style: 'partial' },
    },
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-path-${id}-`));
  data = join(work, 'data');
  secret = join(work, 'secret');
  mkdirSync(join(data, 'logs'), { recursive: true });
  mkdirSync(join(data, 'up'), { recursive: true });
  mkdirSync(secret, { recursive: true });
  writeFileSync(join(secret, 'secret.txt'), `${SECRET}\n`);
  writeFileSync(join(secret, 'overwrite-me.txt'), `${SECRET}\n`);
  writeFileSync(join(data, 'logs', 'app.log'), 'started\nok\n');
  // The attacks' links, all under the allowed tree.
  chain(join(data, 'chain'), 'l', join(secret, 'secret.txt'));
  symlinkSync(join(data, 'chain', `l${CHAIN}`), join(data, 'chain', CPF_NAME));
  chain(join(data, 'dchain'), 'd', secret);
  chain(join(data, 'wchain'), 'w', join(secret, 'planted.txt'));
  symlinkSync(join(secret, 'missing-dir', 'planted.txt'), join(data, 'dangling-deep'));
  symlinkSync(join(data, 'loop'), join(data, 'loop'));
  mkdirSync(join(data, 'drop'));
  symlinkSync(join(secret, 'overwrite-me.txt'), join(data, 'drop', 'report.txt'));
  mkdirSync(join(data, 'tree'));
  writeFileSync(join(data, 'tree', 'ok.txt'), 'fine\n');
  symlinkSync(join(secret, 'secret.txt'), join(data, 'tree', 'leak.txt'));
  symlinkSync(join(data, 'logs'), join(data, 'logs-link'));

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

/** The local copy does not exist or does not hold the secret. */
function noSecret(local: string): void {
  expect(existsSync(local) ? readFileSync(local, 'utf8') : '').not.toContain(SECRET);
}

describe('a symlink chain the host cannot resolve (and the kernel would open) is denied', () => {
  it('sftp get of a file through it', async () => {
    const local = join(work, 'got-chain');
    const r = await sftpBatch([`get ${data}/chain/l${CHAIN} ${local}`]);
    expect(r.code).not.toBe(0);
    noSecret(local);
  });

  it('sftp get of a file below a chained directory component', async () => {
    const local = join(work, 'got-dchain');
    const r = await sftpBatch([`get ${data}/dchain/d${CHAIN}/secret.txt ${local}`]);
    expect(r.code).not.toBe(0);
    noSecret(local);
  });

  it('scp in its default SFTP mode, and legacy scp -O, both directions', async () => {
    const local = join(work, 'scp-chain');
    const sftpMode = await agent('scp', [remote(`${data}/chain/l${CHAIN}`), local]);
    expect(sftpMode.code).not.toBe(0);
    noSecret(local);
    const legacy = await agent('scp', ['-O', remote(`${data}/chain/l${CHAIN}`), local]);
    expect(legacy.code).not.toBe(0);
    expect(legacy.stderr).toContain('could not resolve');
    expect(legacy.stderr).toContain('symlink the host cannot resolve');
    noSecret(local);
    writeFileSync(join(work, 'plant.txt'), 'planted\n');
    for (const args of [[join(work, 'plant.txt'), remote(`${data}/wchain/w${CHAIN}`)], ['-O', join(work, 'plant.txt'), remote(`${data}/wchain/w${CHAIN}`)]]) {
      const up = await agent('scp', args);
      expect(up.code).not.toBe(0);
      expect(existsSync(join(secret, 'planted.txt'))).toBe(false);
    }
  });

  it('sftp put through it (the write would create the chain\'s target in the secret tree)', async () => {
    writeFileSync(join(work, 'plant.txt'), 'planted\n');
    const r = await sftpBatch([`put ${join(work, 'plant.txt')} ${data}/wchain/w${CHAIN}`]);
    expect(r.code).not.toBe(0);
    expect(existsSync(join(secret, 'planted.txt'))).toBe(false);
  });

  it('the denial names the path masked and why it did not resolve, as the agent sees it and as recorded', async () => {
    const r = await agent('scp', ['-O', remote(`${data}/chain/${CPF_NAME}`), join(work, 'cpf-copy')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('could not resolve');
    expect(r.stderr).not.toContain('590.830.166-33');
    noSecret(join(work, 'cpf-copy'));
    const records = await eventually('the denial at the operator', async () => {
      const found = (await fetchExport(op.url, ns)).records.filter((x) => x.type === 'command' && typeof x.reason === 'string' && x.reason.includes('could not resolve') && x.reason.includes('cliente-'));
      return found.length > 0 ? found : undefined;
    }, 30_000, 200);
    for (const rec of records) {
      expect(rec.decision).toBe('deny');
      expect(JSON.stringify(rec)).not.toContain('590.830.166-33');
    }
  });
});

describe('other paths the host cannot resolve are denied, not judged as sent', () => {
  it('a symlink loop, and a dangling symlink whose target directory does not exist (a write would follow it once the directory appears)', async () => {
    const loop = await agent('scp', ['-O', remote(`${data}/loop`), join(work, 'loop-copy')]);
    expect(loop.code).not.toBe(0);
    expect(loop.stderr).toContain('could not resolve');
    writeFileSync(join(work, 'plant.txt'), 'planted\n');
    const dangling = await agent('scp', ['-O', join(work, 'plant.txt'), remote(`${data}/dangling-deep`)]);
    expect(dangling.code).not.toBe(0);
    expect(dangling.stderr).toContain('could not resolve');
  });
});

describe('legacy scp names files only its transfer carries', () => {
  it('an upload into a directory (scp -O f host:dir/) is denied: the name below it can be a symlink to the secret tree', async () => {
    writeFileSync(join(work, 'report.txt'), 'overwritten\n');
    const r = await agent('scp', ['-O', join(work, 'report.txt'), remote(`${data}/drop/`)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('it is a directory');
    expect(readFileSync(join(secret, 'overwrite-me.txt'), 'utf8')).toBe(`${SECRET}\n`);
  });

  it('a recursive download (scp -O -r) is denied: a symlink below the directory leads to the secret tree', async () => {
    const local = join(work, 'tree-copy');
    const r = await agent('scp', ['-O', '-r', remote(`${data}/tree`), local]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('scp without -O judges each file');
    noSecret(join(local, 'leak.txt'));
  });

  it('the same recursive download in SFTP mode judges each file: the allowed one arrives, the link to the secret does not', async () => {
    const local = join(work, 'tree-sftp');
    const r = await agent('scp', ['-r', remote(`${data}/tree`), local]);
    expect(r.code).not.toBe(0);
    expect(readFileSync(join(local, 'ok.txt'), 'utf8')).toBe('fine\n');
    noSecret(join(local, 'leak.txt'));
  });
});

describe('exec arguments are judged where the host resolves them', () => {
  const ssh = (command: string): Promise<Run> => agent('ssh', [`${PURPOSE}@${POLICY}`, command]);

  it('cat of a symlink under the allowed tree to the secret tree is denied by the rule on the secret tree', async () => {
    const r = await ssh(`cat ${data}/tree/leak.txt`);
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('secret-commands');
    expect(r.stdout).not.toContain(SECRET);
  });

  it('cat through a symlink chain the host cannot resolve is denied, naming it', async () => {
    const r = await ssh(`cat ${data}/chain/l${CHAIN}`);
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('could not resolve');
    expect(r.stdout).not.toContain(SECRET);
  });

  it('cat of an allowed file, also through a symlinked allowed directory, runs', async () => {
    for (const path of [`${data}/logs/app.log`, `${data}/logs-link/app.log`]) {
      const r = await ssh(`cat ${path}`);
      expect(r.stderr).not.toContain('guarita');
      expect(r).toMatchObject({ code: 0, stdout: 'started\nok\n' });
    }
  });
});

describe('allowed workflows keep working', () => {
  it('sftp: mkdir of a new directory, put of a new file into it, get back, ls, through a symlinked allowed directory', async () => {
    writeFileSync(join(work, 'new.txt'), 'new content\n');
    const r = await sftpBatch([
      `mkdir ${data}/up/newdir`,
      `put ${join(work, 'new.txt')} ${data}/up/newdir/new.txt`,
      `get ${data}/up/newdir/new.txt ${join(work, 'new-back.txt')}`,
      `ls ${data}/up/newdir`,
      `get ${data}/logs-link/app.log ${join(work, 'via-link.log')}`,
    ]);
    expect(r.stderr).not.toContain('guarita');
    expect(r.code).toBe(0);
    expect(readFileSync(join(data, 'up', 'newdir', 'new.txt'), 'utf8')).toBe('new content\n');
    expect(readFileSync(join(work, 'new-back.txt'), 'utf8')).toBe('new content\n');
    expect(readFileSync(join(work, 'via-link.log'), 'utf8')).toBe('started\nok\n');
  });

  it('scp (SFTP mode) upload of a new file into an allowed directory, and download', async () => {
    writeFileSync(join(work, 'scp-new.txt'), 'scp content\n');
    const up = await agent('scp', [join(work, 'scp-new.txt'), remote(`${data}/up/`)]);
    expect(up.stderr).not.toContain('guarita');
    expect(up.code).toBe(0);
    expect(readFileSync(join(data, 'up', 'scp-new.txt'), 'utf8')).toBe('scp content\n');
    const down = await agent('scp', [remote(`${data}/logs/app.log`), join(work, 'scp-down.log')]);
    expect(down.code).toBe(0);
    expect(readFileSync(join(work, 'scp-down.log'), 'utf8')).toBe('started\nok\n');
  });

  it('legacy scp -O upload naming the new file, and download', async () => {
    writeFileSync(join(work, 'legacy-new.txt'), 'legacy content\n');
    const up = await agent('scp', ['-O', join(work, 'legacy-new.txt'), remote(`${data}/up/legacy-new.txt`)]);
    expect(up.stderr).not.toContain('guarita');
    expect(up.code).toBe(0);
    expect(readFileSync(join(data, 'up', 'legacy-new.txt'), 'utf8')).toBe('legacy content\n');
    const down = await agent('scp', ['-O', remote(`${data}/logs/app.log`), join(work, 'legacy-down.log')]);
    expect(down.code).toBe(0);
    expect(readFileSync(join(work, 'legacy-down.log'), 'utf8')).toBe('started\nok\n');
  });
});
