// Round 12d review, end to end through the real SSH target (rig copied from ssh-terminal-escapes.int.test.ts): a
// program prints a secret CPF in two visible halves separated by `35X` and a lone BEL, with a decoy CPF written with
// spaces across the BEL that ends a window title. The kept reading (core/masking/sequences.ts) masks the decoy and
// writes the BEL back as a space, so the title now runs to the next BEL and hides what separated the halves: the
// agent's terminal shows 529.982.247-25. Unit form: core/masking/masking-round12d-attacks.test.ts.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdirSync, mkdtempSync } from 'node:fs';
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

const ns = `ssh-r12d-${suffix()}`;
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
  work = mkdtempSync(join(tmpdir(), 'ssh-r12d-'));
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

/** What the terminal shows: string sequences (OSC up to BEL or ST) and CSIs dropped, C0 controls but newline too. */
function screen(t: string): string {
  // eslint-disable-next-line no-control-regex -- escape sequences are what is removed
  return t.replace(/\u001b\][^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, '');
}

describe('round 12d: a mask written over a string terminator joins a CPF on the agent\'s screen', () => {
  it('printf of two halves around a title whose BEL a decoy CPF spans', async () => {
    const out = await run(String.raw`printf 'cpf 529.982\033]0;111 444 777\00735X\007.247-25 ok\n'`);
    // What sshd sent shows the halves apart on a terminal...
    expect(screen('cpf 529.982\u001b]0;111 444 777\u000735X\u0007.247-25 ok\n')).toBe('cpf 529.98235X.247-25 ok\n');
    // ...what the agent gets must not show the CPF whole.
    expect(screen(out)).not.toContain('529.982.247-25');
    // Added by the fix: the decoy is masked around the BEL, which stays where it was (core/masking/structure.ts).
    expect(out).toBe('cpf 529.982\u001b]0;*** *** ***\u000735X\u0007.247-25 ok\n');
  });
});
