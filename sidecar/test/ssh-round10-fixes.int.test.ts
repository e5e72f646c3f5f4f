// The round 10 fixes (findings 1, 2, 3 and 5) end to end, against the real OpenSSH server
// (internal-sftp), the real sidecar process and operator, beyond the review's own tests
// (ssh-round10-attacks.int.test.ts):
// - the class of finding 1: every SFTP request whose path has a `..` after a symlink. The sidecar
//   asks the host the path as sent and judges where the host resolves it; a link in the allowed
//   tree into the denied one (`SCRATCH/lnk/..` folds, as text, into SCRATCH) must be denied for
//   each operation, its answer naming nothing of the target, while the same operations on plain
//   SCRATCH paths run;
// - finding 2's bound does not break a client that pipelines as ssh2's fastGet and fastPut do
//   (64 requests), nor one asking for more than the bound (64 × 256 KiB): the bytes arrive whole;
// - finding 5: legacy scp records the transfer's bytes both ways (scp -f: `bytes` the file; scp -t:
//   `bytes` the upload, and `bytesIn` on both).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type Client, type SFTPWrapper } from 'ssh2';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { fetchExport, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess, type TargetSpec } from './support.ts';

jest.setTimeout(180_000);

const id = suffix();
const ns = `sc-sshr10f-${id}`;
const opNs = `sc-sshr10fop-${id}`;
const POLICY = 'files-host';
const PURPOSE = 'customer-support';
const CPF = '529.982.247-25';
const { STATUS_CODE } = ssh2.utils.sftp;

let op: OperatorProcess;
let sshd: SshdHandle;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let work: string;
let secret: string;
let scratch: string;
let listenPort: number;
let token: string;
let sshConfig: string;
let agentEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-r10f-${id}-`));
  secret = join(work, 'secret');
  scratch = join(work, 'scratch');
  mkdirSync(join(secret, `cliente-${CPF}`, 'docs'), { recursive: true });
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(secret, `cliente-${CPF}`, 'docs', 'contrato.txt'), `cpf=${CPF}\n`);
  // A link in the allowed tree into the denied one (a "latest" link a host job would make).
  symlinkSync(join(secret, `cliente-${CPF}`, 'docs'), join(scratch, 'lnk'));
  writeFileSync(join(scratch, 'plain.txt'), 'plain\n');
  // Not a multiple of any chunk size: the last read is short.
  writeFileSync(join(scratch, 'big.bin'), Buffer.from(Array.from({ length: 8 * 1024 * 1024 + 12_345 }, (_, i) => (i * 7) & 0xff)));

  sshd = await startSshd(join(work, 'sshd'));
  await installCrds();
  const opFx = await operatorFixture(opNs);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  await grantSessionReaders(ns, { kind: 'User', name: 'audrey' });
  op = await startOperator({ ...opFx, watchNamespaces: [ns] });
  await waitServing(op);
  const credentials = { username: sshd.user, 'ssh-privatekey': sshd.clientKey, known_hosts: sshd.knownHosts };
  [listenPort = 0] = await freePorts(1);
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: credentials }, {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name: POLICY, protocol: 'ssh', endpoint: `127.0.0.1:${sshd.port}`, listenPort, credentialsSecretRef: { name: `${POLICY}-credentials` } },
      identity: { oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: PURPOSE }],
      rules: [
        { name: 'secret-files', match: { ssh: { paths: [`${secret}/**`] } }, action: 'deny' },
        { name: 'scratch-files', match: { ssh: { requests: ['sftp'], operations: ['read', 'write', 'stat', 'list', 'setstat', 'rename', 'readlink', 'remove', 'mkdir'], paths: [`${scratch}`, `${scratch}/**`] } }, action: 'allow' },
      ],
      masking: { style: 'partial' },
    },
  }]);
  fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, credentials);
  sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: POLICY, target: POLICY, protocol: 'ssh', listenPort } as unknown as TargetSpec], operatorUrl: op.url,
    env: { GUARITA_SSH_DIR: join(fx.dir, 'ssh') },
  });
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
  sshConfig = join(fx.dir, 'ssh', POLICY, 'ssh_config');
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const askpass = join(work, 'askpass.sh');
  writeFileSync(askpass, `#!/bin/sh\nexec cat ${tokenFile}\n`, { mode: 0o700 });
  agentEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
}, 240_000);

afterAll(async () => {
  await sidecar?.stop();
  await Promise.all([op?.stop(), sshd?.stop()]);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

function connectAgent(): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => resolve(c));
    c.connect({ host: '127.0.0.1', port: listenPort, username: PURPOSE, password: token, hostVerifier: () => true, readyTimeout: 30_000 });
  });
}

async function withSftp<T>(f: (s: SFTPWrapper) => Promise<T>): Promise<T> {
  const c = await connectAgent();
  try {
    const s = await new Promise<SFTPWrapper>((resolve, reject) => c.sftp((err, x) => (err ? reject(err) : resolve(x))));
    return await f(s);
  } finally {
    c.end();
  }
}

/** An SFTP call's outcome: 'ok' with what it answered, or the status code and text. */
type Outcome = { ok: unknown } | { code: unknown; message: string };
function outcome<T>(call: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<Outcome> {
  return new Promise((resolve) => call((err, v) => resolve(err ? { code: (err as { code?: unknown }).code, message: err.message } : { ok: v ?? true })));
}

/** Each SFTP operation on `p` (and a rename's second path `q`), as the agent sends it. */
function operations(s: SFTPWrapper, p: string, q: string): Record<string, () => Promise<Outcome>> {
  return {
    stat: () => outcome((cb) => s.stat(p, cb)),
    lstat: () => outcome((cb) => s.lstat(p, cb)),
    realpath: () => outcome((cb) => s.realpath(p, cb)),
    open: () => outcome((cb) => s.open(p, 'r', cb)),
    opendir: () => outcome((cb) => s.opendir(p, cb)),
    readlink: () => outcome((cb) => s.readlink(p, cb)),
    setstat: () => outcome((cb) => s.setstat(p, { mode: 0o600 }, cb)),
    'rename from': () => outcome((cb) => s.rename(p, q, cb)),
    'rename to': () => outcome((cb) => s.rename(q, p, cb)),
  };
}

describe('finding 1, the class: a `..` after a symlink is judged where the host takes it, for every SFTP operation', () => {
  it.each([
    // Lexically in SCRATCH; on the host, the link's target's parent: the customer's directory.
    ['LINK/..', (): string => `${scratch}/lnk/..`],
    ['LINK/../docs', (): string => `${scratch}/lnk/../docs`],
    ['LINK/../docs/contrato.txt', (): string => `${scratch}/lnk/../docs/contrato.txt`],
    ['LINK/../docs/./', (): string => `${scratch}/lnk/../docs/./`],
    ['LINK//..//docs', (): string => `${scratch}/lnk//..//docs`],
  ])('%s: every operation is denied and nothing of the target is told', async (_name, path) => {
    const answers = await withSftp(async (s) => {
      const out: Record<string, Outcome> = {};
      for (const [name, run] of Object.entries(operations(s, path(), `${scratch}/moved-${id}`))) out[name] = await run();
      return out;
    });
    for (const [name, a] of Object.entries(answers)) {
      expect([name, a]).toEqual([name, expect.objectContaining({ code: STATUS_CODE.PERMISSION_DENIED })]);
      expect(JSON.stringify(a)).not.toContain(CPF);
      expect(JSON.stringify(a)).not.toContain('cliente-');
    }
    // Nothing moved into or out of the denied tree, nothing changed there.
    expect(readFileSync(join(secret, `cliente-${CPF}`, 'docs', 'contrato.txt'), 'utf8')).toBe(`cpf=${CPF}\n`);
  });

  it('control: the same operations on plain SCRATCH paths run (the denials are the link\'s, not the operations\')', async () => {
    await withSftp(async (s) => {
      expect(await outcome((cb) => s.stat(`${scratch}/plain.txt`, cb))).toMatchObject({ ok: expect.anything() });
      expect(await outcome((cb) => s.lstat(`${scratch}/./plain.txt`, cb))).toMatchObject({ ok: expect.anything() });
      expect(await outcome((cb) => s.realpath(`${scratch}/x/../plain.txt`, cb))).toMatchObject({ code: STATUS_CODE.NO_SUCH_FILE });
      expect(await outcome((cb) => s.realpath(`${scratch}//plain.txt`, cb))).toEqual({ ok: `${scratch}/plain.txt` });
      expect(await outcome((cb) => s.opendir(`${scratch}/`, cb))).toMatchObject({ ok: expect.anything() });
      expect(await outcome((cb) => s.setstat(`${scratch}/plain.txt`, { mode: 0o640 }, cb))).toEqual({ ok: true });
      expect(await outcome((cb) => s.rename(`${scratch}/plain.txt`, `${scratch}/plain2.txt`, cb))).toEqual({ ok: true });
      expect(await outcome((cb) => s.rename(`${scratch}/plain2.txt`, `${scratch}/plain.txt`, cb))).toEqual({ ok: true });
      // The link itself is named by readlink; its target is in the denied tree, so it is denied too.
      expect(await outcome((cb) => s.readlink(`${scratch}/lnk`, cb))).toMatchObject({ code: STATUS_CODE.PERMISSION_DENIED });
    });
  });

  it('the login directory, spelled with . and / only, is answered; through a `..` it is judged (nothing allows stat of it here)', async () => {
    await withSftp(async (s) => {
      const home = await outcome<string>((cb) => s.realpath('.', cb));
      expect(home).toMatchObject({ ok: expect.stringMatching(/^\//) });
      const dir = (home as { ok: string }).ok;
      for (const p of ['', dir, `${dir}/`, `${dir}/.`, `/${dir}`]) expect([p, await outcome((cb) => s.realpath(p, cb))]).toEqual([p, { ok: dir }]);
      for (const p of [`${dir}/x/..`, `${dir}/../${dir.split('/').pop() ?? ''}`]) {
        expect([p, await outcome((cb) => s.realpath(p, cb))]).toEqual([p, expect.objectContaining({ code: STATUS_CODE.PERMISSION_DENIED })]);
      }
    });
  });
});

describe('finding 2: the bound on SFTP requests in flight keeps pipelining clients whole', () => {
  const expected = (): Buffer => readFileSync(join(scratch, 'big.bin'));

  it.each([
    ['ssh2 fastGet as it pipelines by default (64 × 32 KiB)', {}],
    ['64 requests of 256 KiB (past the bytes bound: the rest wait)', { concurrency: 64, chunkSize: 256 * 1024 }],
  ])('%s: the download is byte for byte', async (_name, opts) => {
    const local = join(work, `get-${Object.keys(opts).length}.bin`);
    await withSftp((s) => new Promise<void>((resolve, reject) => s.fastGet(`${scratch}/big.bin`, local, opts, (err) => (err ? reject(err) : resolve()))));
    expect(readFileSync(local).equals(expected())).toBe(true);
  });

  it('ssh2 fastPut (64 WRITEs of 32 KiB in flight) uploads byte for byte', async () => {
    const local = join(work, 'put.bin');
    writeFileSync(local, Buffer.from(Array.from({ length: 6 * 1024 * 1024 + 77 }, (_, i) => (i * 13) & 0xff)));
    await withSftp((s) => new Promise<void>((resolve, reject) => s.fastPut(local, `${scratch}/put.bin`, { concurrency: 64, chunkSize: 256 * 1024 }, (err) => (err ? reject(err) : resolve()))));
    expect(readFileSync(join(scratch, 'put.bin')).equals(readFileSync(local))).toBe(true);
  });
});

function scp(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('scp', ['-F', sshConfig, ...args], { env: agentEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

describe('finding 5: legacy scp records the bytes of the transfer, both ways', () => {
  it('scp -O download: bytes is the file (what the host sent); scp -O upload: bytes is the upload; bytesIn is what the agent sent on both', async () => {
    const size = 150_000;
    writeFileSync(join(scratch, 'legacy-down.bin'), Buffer.alloc(size, 0x64));
    const local = join(work, 'legacy-up.bin');
    writeFileSync(local, Buffer.alloc(size, 0x75));
    expect(await scp(['-O', `${PURPOSE}@${POLICY}:${scratch}/legacy-down.bin`, join(work, 'legacy-down.bin')])).toMatchObject({ code: 0 });
    expect(await scp(['-O', local, `${PURPOSE}@${POLICY}:${scratch}/legacy-up.bin`])).toMatchObject({ code: 0 });
    const find = (records: { command?: string; result?: unknown; type: string }[], flag: string, name: string): { bytes?: number; bytesIn?: number } | undefined =>
      records.find((x) => x.type === 'command' && new RegExp(`^scp .*${flag}`).test(x.command ?? '') && (x.command ?? '').includes(name) && x.result !== undefined)?.result as { bytes?: number; bytesIn?: number } | undefined;
    const [down, up] = await eventually('both transfers\' records at the operator', async () => {
      const { records } = await fetchExport(op.url, ns);
      const pair = [find(records, '-f', 'legacy-down.bin'), find(records, '-t', 'legacy-up.bin')];
      return pair.every((r) => r !== undefined) ? pair : undefined;
    }, 30_000, 500);
    // Each side adds scp's protocol lines (a header, acknowledgements) to the file's bytes.
    expect(down?.bytes).toBeGreaterThanOrEqual(size);
    expect(down?.bytes).toBeLessThan(size + 256);
    expect(down?.bytesIn).toBeLessThan(256);
    expect(up?.bytes).toBeGreaterThanOrEqual(size);
    expect(up?.bytes).toBeLessThan(size + 256);
    expect(up?.bytesIn).toBe(up?.bytes);
  });
});
