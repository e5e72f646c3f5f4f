// Round 10b: adversarial review of the round 10 SSH fixes (1e61d7e, a31bc56), through the real
// path: a real sshd, the sidecar process, the operator, the agent as a raw ssh2 client. Setup as in
// ssh-round10-attacks.int. Report: /work/tmp/ssh-webhook10b-review.md.
//
// Finding A (program text on stdin, the round 10 finding 6 class): the stdin rule and
// COMMAND_RUNNERS match exact names, so programs installed under their versioned or variant
// names read program text from stdin unjudged: `tclsh8.6` (Debian's tcl8.6 binary; `tclsh` is only
// the alternatives link, and is a runner), and mawk's `-W exec FILE` (its -f that ends option
// reading), given /dev/stdin. Both are on this machine and most Debian/Ubuntu hosts (mawk is
// Debian's default awk).
//
// Finding B (SFTP intake): the round 10 bound is per SFTP channel (64 requests / 4 MiB), but an
// agent connection may hold 32 session channels and the sidecar takes 256 connections, so READs
// pipelined on many SFTP channels, answers never read, still grow the sidecar past its pod's 256 MiB.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type Client, type ClientChannel } from 'ssh2';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess, type TargetSpec } from './support.ts';

const id = suffix();
const ns = `sc-sshr10b-${id}`;
const opNs = `sc-sshr10bop-${id}`;
const POLICY = 'files-host';
const PURPOSE = 'customer-support';
const OPS = 'ops';
const CPF = '529.982.247-25';

let op: OperatorProcess;
let sshd: SshdHandle;
let fx: SidecarFixture;
let sidecar: SidecarProcess;
let work: string;
let secret: string;
let scratch: string;
let listenPort: number;
let token: string;

function policy(port: number): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name: POLICY, protocol: 'ssh', endpoint: `127.0.0.1:${sshd.port}`, listenPort: port, credentialsSecretRef: { name: `${POLICY}-credentials` } },
      identity: { oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: PURPOSE }, { name: OPS }],
      rules: [
        { name: 'secret-files', match: { ssh: { paths: [`${secret}/**`] } }, action: 'deny' },
        { name: 'secret-commands', match: { ssh: { commands: [`* ${secret}/*`] } }, action: 'deny' },
        { name: 'scratch-files', purposes: [PURPOSE], match: { ssh: { requests: ['sftp'], operations: ['read', 'write', 'stat', 'list'], paths: [`${scratch}/**`] } }, action: 'allow' },
        { name: 'ops-rest', purposes: [OPS], match: { ssh: { requests: ['exec'] } }, action: 'allow' },
      ],
      masking: { style: 'partial' },
    },
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-r10b-${id}-`));
  secret = join(work, 'secret');
  scratch = join(work, 'scratch');
  mkdirSync(join(secret, `cliente-${CPF}`, 'docs'), { recursive: true });
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(secret, `cliente-${CPF}`, 'docs', 'contrato.txt'), `cpf=${CPF}\n`);
  writeFileSync(join(scratch, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 0x61));
  writeFileSync(join(scratch, 'small.txt'), 'small file\n');

  sshd = await startSshd(join(work, 'sshd'));
  await installCrds();
  const opFx = await operatorFixture(opNs);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  await grantSessionReaders(ns, { kind: 'User', name: 'audrey' });
  op = await startOperator({ ...opFx, watchNamespaces: [ns] });
  await waitServing(op);
  const credentials = { username: sshd.user, 'ssh-privatekey': sshd.clientKey, known_hosts: sshd.knownHosts };
  [listenPort = 0] = await freePorts(1);
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: credentials }, policy(listenPort)]);
  fx = await sidecarFixture(ns);
  mountCredentials(fx, POLICY, credentials);
  sidecar = await startSidecarProcess(fx, {
    targets: [{ policy: POLICY, target: POLICY, protocol: 'ssh', listenPort } as unknown as TargetSpec], operatorUrl: op.url,
    env: { GUARITA_SSH_DIR: join(fx.dir, 'ssh') },
  });
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
}, 240_000);

afterAll(async () => {
  await sidecar?.stop();
  await Promise.all([op?.stop(), sshd?.stop()]);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

function connectAgent(purpose: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => resolve(c));
    c.connect({ host: '127.0.0.1', port: listenPort, username: purpose, password: token, hostVerifier: () => true, readyTimeout: 30_000 });
  });
}

async function execWithInput(purpose: string, command: string, stdin: string): Promise<{ code: unknown; stdout: string; stderr: string }> {
  const c = await connectAgent(purpose);
  try {
    return await new Promise((resolve, reject) => c.exec(command, (err, ch) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: unknown;
      ch.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
      ch.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
      ch.on('exit', (x: unknown) => { code = x; });
      ch.on('close', () => resolve({ code, stdout, stderr }));
      ch.end(stdin);
    }));
  } finally {
    c.end();
  }
}

async function rssMiB(): Promise<number> {
  const status = readFileSync(`/proc/${await sidecar.pid()}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function peakRss(ms: number): Promise<number> {
  let peak = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    peak = Math.max(peak, await rssMiB());
    await new Promise((r) => setTimeout(r, 250));
  }
  return peak;
}

describe('finding A: interpreters under their versioned or variant spellings read program text from stdin', () => {
  const file = (): string => `${secret}/cliente-${CPF}/docs/contrato.txt`;

  it('control: tclsh, awk -f /dev/stdin and perl with no script are refused', async () => {
    expect((await execWithInput(OPS, 'tclsh', `puts "MARK:[exec cat ${file()}]"\n`)).code).toBe(126);
    expect((await execWithInput(OPS, 'mawk -f /dev/stdin', `BEGIN { while ((getline l < "${file()}") > 0) print "MARK:" l }\n`)).code).toBe(126);
    expect((await execWithInput(OPS, 'perl', `open(F, "<${file()}"); print "MARK:", <F>;\n`)).code).toBe(126);
  });

  it.each([
    // Debian's tcl8.6 binary; `tclsh` is only its alternatives link. Tcl's `exec` runs any command.
    ['tclsh8.6 (no script)', 'tclsh8.6', () => `puts "MARK:[exec cat ${file()}]"\n`],
    // mawk -W exec FILE: "Program text is read from file and this is the last option" (mawk(1)); Debian's default awk.
    ['mawk -W exec /dev/stdin', 'mawk -W exec /dev/stdin', () => `BEGIN { while ((getline l < "${file()}") > 0) print "MARK:" l }\n`],
  ])('%s under an allow-the-rest policy does not read the denied tree', async (_name, command, program) => {
    const r = await execWithInput(OPS, command, program());
    // On the reviewed code: exit 0 and stdout `MARK:cpf=***.***.***-25`: the program came on stdin,
    // never judged; `cat` of the same file is denied by the secret-commands rule.
    expect(r.stdout).not.toContain('MARK:');
    expect(r.code).toBe(126);
  });
});

// --- flood: last (the sidecar's memory is what it measures) ---

function sftpPacket(type: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head[4] = type;
  return Buffer.concat([head, body]);
}
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0, 0); return b; };
const u64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n), 0); return b; };
const str = (v: string | Buffer): Buffer => { const b = Buffer.isBuffer(v) ? v : Buffer.from(v); return Buffer.concat([u32(b.length), b]); };

function rawOpen(c: Client, path: string): Promise<{ ch: ClientChannel; handle: Buffer }> {
  return new Promise((resolve, reject) => c.subsys('sftp', (err, ch) => {
    if (err) return reject(err);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const type = buf[4];
        const payload = buf.subarray(5, 4 + len);
        buf = buf.subarray(4 + len);
        if (type === 2) ch.write(sftpPacket(3, u32(1), str(path), u32(1 /* READ */), u32(0)));
        else if (type === 102) {
          ch.off('data', onData);
          ch.pause();
          resolve({ ch, handle: Buffer.from(payload.subarray(4 + 4, 4 + 4 + payload.readUInt32BE(4))) });
        } else if (type === 101) reject(new Error(`open refused: ${payload.toString('latin1')}`));
      }
    };
    ch.on('data', onData);
    ch.write(sftpPacket(1, u32(3)));
  }));
}

describe('finding B: the SFTP intake bounds each channel, not the agent', () => {
  it('READs pipelined on 2 connections x 30 SFTP channels, answers never read, keep the sidecar within 64 MiB more memory', async () => {
    const clients = [await connectAgent(PURPOSE), await connectAgent(PURPOSE)];
    try {
      const before = await rssMiB();
      const size = 8 * 1024 * 1024;
      for (const c of clients) {
        for (let n = 0; n < 30; n++) {
          const { ch, handle } = await rawOpen(c, `${scratch}/big.bin`);
          // 64 READs of 256 KiB: each channel's own bound (64 requests, 4 MiB) is what is admitted.
          ch.write(Buffer.concat(Array.from({ length: 64 }, (_, i) => sftpPacket(5, u32(100 + i), str(handle), u64((i * 256 * 1024) % size), u32(256 * 1024)))));
        }
      }
      const peak = await peakRss(15_000);
      // On the reviewed code: each channel admits its 4 MiB of READs and its answers wait for an
      // agent that never reads; 60 channels hold about 60 x 4 MiB (the round 10 test's own bound,
      // 64 MiB, is met by one channel only).
      expect(peak - before).toBeLessThan(64);
      // Fair share (fix): the flood's unread answers fill the shared budget, yet another agent
      // connection is still served, a request at a time at least.
      const other = await connectAgent(PURPOSE);
      clients.push(other);
      const small = await new Promise<string>((resolve, reject) => other.sftp((err, sftp) => {
        if (err) return reject(err);
        sftp.readFile(`${scratch}/small.txt`, (e, data) => (e ? reject(e) : resolve(data.toString('utf8'))));
      }));
      expect(small).toBe('small file\n');
    } finally {
      for (const c of clients) c.end();
    }
  }, 120_000);
});
