// Round 5 review, end to end: exec arguments the sidecar did not resolve, against the real OpenSSH
// server (e2e/harness/sshd.ts), the real ssh client as the agent, the real sidecar and operator.
// The policy allows cat and dd of anything and denies commands naming the secret tree. A symlink
// to the secret file in the login directory read with a bare name (`cat LINK`), the same link
// given as an option's value (`dd if=LINK`, `dd if=/abs/link`) and a relative path through it
// (`cat ./LINK`, `cat -- LINK`) each printed the secret before (9f5a38c): only words with a / that
// were not options were resolved on the host, and deny globs did not see option values at all.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess, type TargetSpec } from './support.ts';

jest.setTimeout(120_000);

const id = suffix();
const ns = `sc-sshatk-${id}`;
const opNs = `sc-sshatkop-${id}`;
const POLICY = 'files-host';
const PURPOSE = 'customer-support';
const SECRET = 'TOP-SECRET-CONTENT';
/** The link in the login directory (the sshd user's home: where the host's shell runs exec), removed after. */
const HOME_LINK = `guarita-r5-link-${id}`;

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

function ssh(command: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('ssh', ['-F', sshConfig, `${PURPOSE}@${POLICY}`, command], { env: agentEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
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
      purposes: [{ name: PURPOSE }],
      rules: [
        { name: 'secret-commands', match: { ssh: { commands: [`* ${secret}/*`] } }, action: 'deny' },
        { name: 'read-anything', match: { ssh: { commands: ['cat *', 'dd *'] } }, action: 'allow' },
      ],
      masking: { style: 'partial' },
    },
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), `guarita-ssh-atk-${id}-`));
  data = join(work, 'data');
  secret = join(work, 'secret');
  mkdirSync(data, { recursive: true });
  mkdirSync(secret, { recursive: true });
  writeFileSync(join(secret, 'secret.txt'), `${SECRET}\n`);
  writeFileSync(join(data, 'ok.txt'), 'fine\n');
  symlinkSync(join(secret, 'secret.txt'), join(data, 'link'));
  symlinkSync(join(secret, 'secret.txt'), join(homedir(), HOME_LINK));

  sshd = await startSshd(join(work, 'sshd'));
  await installCrds();
  const opFx = await operatorFixture(opNs);
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
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
  rmSync(join(homedir(), HOME_LINK), { force: true });
  await sidecar?.stop();
  await Promise.all([op?.stop(), sshd?.stop()]);
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('exec arguments that reach the secret through a link are denied by the rule on the secret tree', () => {
  it.each([
    ['cat LINK (a bare name in the login directory)', () => `cat ${HOME_LINK}`],
    ['cat ./LINK', () => `cat ./${HOME_LINK}`],
    ['cat -- LINK', () => `cat -- ${HOME_LINK}`],
    ['dd if=LINK (an option value, bare)', () => `dd if=${HOME_LINK} status=none`],
    ['dd if=DATA/link (an option value through a link under the data tree)', () => `dd if=${data}/link status=none`],
    ['dd if=SECRET/secret.txt (an option value naming the secret tree itself)', () => `dd if=${secret}/secret.txt status=none`],
  ])('%s', async (_name, command) => {
    const r = await ssh(command());
    expect(r.stdout).not.toContain(SECRET);
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('secret-commands');
  });

  it('the same programs on files that stay outside the secret tree run', async () => {
    expect(await ssh(`cat ${data}/ok.txt`)).toMatchObject({ code: 0, stdout: 'fine\n' });
    expect(await ssh(`dd if=${data}/ok.txt status=none`)).toMatchObject({ code: 0, stdout: 'fine\n', stderr: '' });
  });
});
