// Round 12c, through the real SSH target: the real sidecar in this process in front of the real OpenSSH sshd, the
// harness IdP and kube-apiserver; the agent is a raw ssh2 client that reads the raw bytes, as an LLM agent does. A
// program's output (`printf`, `cat` of a log) holds identifiers inside terminal escape sequences (a CSI's parameters,
// a title, an OSC 8 hyperlink's URL, a DCS or APC string, 8-bit forms) and split by sequences longer than the
// engine's first reading's bounds; each comes back masked, the sequences in place. Engine: core/masking/sequences.ts
// (terminal-escapes-round12.test.ts); SSH masker: sidecar/src/ssh/terminal-masker-sequences.test.ts.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type Client } from 'ssh2';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { startSidecar, type RunningSidecar } from '../src/sidecar.ts';
import { mountCredentials, sidecarEnv, sidecarFixture, type TargetSpec } from './support.ts';

jest.setTimeout(120_000);

const ns = `ssh-esc-${suffix()}`;
const policyName = 'esc-host';
const purpose = 'ops';
let work = '';
let sshd: SshdHandle;
let sidecar: RunningSidecar;
let listenPort = 0;
let token = '';

function connectAgent(): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => resolve(c));
    c.connect({ host: '127.0.0.1', port: listenPort, username: purpose, password: token, hostVerifier: () => true, readyTimeout: 30_000 });
  });
}

/** Runs `command` over a new connection; its stdout as the agent receives it (UTF-8), or its stderr when it printed nothing. */
async function run(command: string): Promise<string> {
  const c = await connectAgent();
  try {
    return await new Promise<string>((resolve, reject) => c.exec(command, (err, ch) => {
      if (err) return reject(err);
      let out = '';
      ch.on('data', (d: Buffer) => { out += d.toString('utf8'); });
      let stderr = '';
      ch.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
      ch.on('close', () => resolve(out === '' ? `(no output; stderr: ${stderr})` : out));
    }));
  } finally {
    c.end();
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ssh-esc-'));
  mkdirSync(join(work, 'data'));
  sshd = await startSshd(join(work, 'sshd'));
  await installCrds();
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
  const [lp = 0, adminPort = 0] = await freePorts(2);
  listenPort = lp;
  const fx = await sidecarFixture(ns);
  const credentials = { username: sshd.user, 'ssh-privatekey': sshd.clientKey, known_hosts: sshd.knownHosts };
  mountCredentials(fx, policyName, credentials);
  await apply([
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${policyName}-credentials`, namespace: ns }, stringData: credentials },
    {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: policyName, namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'support-agent' } },
        target: { name: policyName, protocol: 'ssh', endpoint: `127.0.0.1:${sshd.port}`, listenPort, credentialsSecretRef: { name: `${policyName}-credentials` } },
        identity: { oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } },
        subjects: [{ kind: 'Group', name: 'support' }],
        purposes: [{ name: purpose }],
        rules: [{ name: 'ops-exec', match: { ssh: { requests: ['exec'] } }, action: 'allow' }],
        masking: { style: 'partial' },
      },
    },
  ]);
  const targets = [{ policy: policyName, target: policyName, protocol: 'ssh', listenPort } as unknown as TargetSpec];
  const config = loadConfig(sidecarEnv(fx, { targets, operatorUrl: 'https://127.0.0.1:9', env: { GUARITA_SSH_DIR: join(fx.dir, 'ssh') } }, adminPort));
  sidecar = await startSidecar(config, silentLogger());
  await sidecar.ready;
  token = await getToken({ clientId: 'support-agent', audience: 'guarita' });
});

afterAll(async () => {
  await sidecar?.shutdown('test done');
  await sshd?.stop();
});

const E = '\u001b';
const ST = `${E}\\`;

describe('SSH output: identifiers inside terminal escape sequences reach the agent masked, the sequences in place', () => {
  it('printf of a CSI parameter, a title and an OSC 8 hyperlink (7-bit), and a DCS string', async () => {
    // printf's own escapes: \033 is ESC, \007 BEL, \\ a backslash.
    const out = await run(String.raw`printf 'cpf \033[52998224725m ok\n\033]0;cliente 529.982.247-25\007$ \n\033]8;;http://crm.example/c/52998224725\033\\ficha\033]8;;\033\\\n\033P0;1|doc 52998224725\033\\ fim\n'`);
    expect(out).toBe([
      `cpf ${E}[*********25m ok`,
      `${E}]0;cliente ***.***.***-25\u0007$ `,
      `${E}]8;;http://crm.example/c/*********25${ST}ficha${E}]8;;${ST}`,
      `${E}P0;1|doc *********25${ST} fim`,
      '',
    ].join('\n'));
  });

  it('cat of a log whose CPFs are split by a CSI past 24 parameters and by an APC string, and hidden in 8-bit forms', async () => {
    const log = [
      `cpf 529.982${E}[${'0;'.repeat(40)}m.247-25 ok`,
      `cpf 529.982${E}_a b c${ST}.247-25 ok`,
      'cpf \u009b52998224725m ok',
      '\u009d0;cpf 529.982.247-25\u009c ok',
      '',
    ].join('\n');
    const file = join(work, 'data', 'hostile.log');
    writeFileSync(file, log);
    const out = await run(`cat ${file}`);
    expect(out.split('\n')).toEqual(['cpf ***.***.***-25 ok', 'cpf ***.***.***-25 ok', 'cpf \u009b*********25m ok', '\u009d0;cpf ***.***.***-25\u009c ok', '']);
  });

  it('a title printed slowly, paused inside the sequence, is masked and kept whole', async () => {
    const script = join(work, 'data', 'slow.py');
    writeFileSync(script, String.raw`import sys, time
sys.stdout.write('\x1b]0;cliente 529.982'); sys.stdout.flush(); time.sleep(0.4)
sys.stdout.write('.247-25 x\x07$ \n'); sys.stdout.flush()
`);
    const out = await run(`python3 ${script}`);
    expect(out).toBe(`${E}]0;cliente ***.***.***-25 x\u0007$ \n`);
  });

  it('a CPF split by a DCS string holding spaces, paused inside the string (an idle flush there), is masked', async () => {
    const script = join(work, 'data', 'slow-dcs.py');
    writeFileSync(script, String.raw`import sys, time
sys.stdout.write('cpf 529.982\x1bPq a '); sys.stdout.flush(); time.sleep(0.4)
sys.stdout.write('b\x1b\\.247-25 ok\n'); sys.stdout.flush()
`);
    expect(await run(`python3 ${script}`)).toBe('cpf ***.***.***-25 ok\n');
  });
});
