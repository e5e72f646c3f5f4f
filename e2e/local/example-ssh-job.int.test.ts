// The example's ssh Job (examples/lgpd-orders/agent-ssh-job.yaml) end to end on the local control
// plane: its pod template created through the apiserver (the webhook injects the sidecar, and gives
// the agent ORDERS_HOST_SSH_CONFIG and the read-only volume where the sidecar publishes its ssh_config
// and known_hosts), the SSH policy (accesspolicy-ssh.yaml) and its credentials Secret aimed at the
// harness's real OpenSSH server (e2e/harness/sshd.ts: a throwaway sshd on loopback, logged in as
// the current user with a key of its own), the injected sidecar started from the stored pod spec,
// and the agent container's own script run with its materialised token and environment: the real
// ssh, scp and sftp through the sidecar. The DPO approves the held backup read with kubectl patch;
// the output passes the same checks as on kind (e2e/kind/scenario.ts checkSshOutput), and so do the
// session's records in guarita export (outputs masked, denials recorded) and guarita verify.
//
// What stands in for orders-host (orders-host.yaml): the harness's sshd serves this machine's
// files, so the host's files (the ConfigMap orders-host-files) are written under a directory of
// this test's, and that directory is put before the host's paths where they are named: in the
// policy's command and path globs and in the Job's LOG_DIR and BACKUP_DIR.
//
// The Job logs in with the pod's own bound service-account token (about 1,040 bytes here), which
// OpenSSH can send only in parts (it reads at most 1023 bytes of an answer): through the askpass
// helper the sidecar publishes beside ssh_config (sidecar/src/ssh/token-parts.ts).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AccessPolicySpec } from '../../crds/types.ts';
import { freePorts } from '../harness/ports.ts';
import { startSshd, type SshdHandle } from '../harness/sshd.ts';
import { kubectl, loadHarnessState } from '../harness/state.ts';
import { loadExample } from '../support/examples.ts';
import { adminApi, apply } from '../support/kube-apply.ts';
import { checkSshOutput, sshRecording } from '../kind/scenario.ts';
import { isBackupRead, SSH_POLICY } from '../kind/manifests.ts';
import { collect } from './agent.ts';
import { runApprovingHeld } from './approver.ts';
import { auditPolicy } from './audit.ts';
import { materialiseContainer } from './kubelet.ts';
import { runAgentContainer, startStack, type Stack } from './stack.ts';

let stack: Stack | undefined;
let sshd: SshdHandle | undefined;
/** Where the host's / is, for this test's sshd (a real path: the sidecar matches paths where the host resolves them). */
let hostRoot = '';

/** The host's files (orders-host.yaml's ConfigMap orders-host-files) where orders-host's start script installs them, under hostRoot. */
function writeHostFiles(): void {
  const files = loadExample('orders-host.yaml', { namespace: 'unused' }).find((d) => d.kind === 'ConfigMap' && d.metadata?.name === 'orders-host-files');
  const data = files?.data as Record<string, string> | undefined;
  if (data?.['app.log'] === undefined || data['orders-2026-12-04.sql'] === undefined) throw new Error('orders-host.yaml has no ConfigMap orders-host-files with app.log and the backup');
  mkdirSync(join(hostRoot, 'var/log/orders'), { recursive: true });
  mkdirSync(join(hostRoot, 'var/backups'), { recursive: true });
  writeFileSync(join(hostRoot, 'var/log/orders/app.log'), data['app.log']);
  writeFileSync(join(hostRoot, 'var/backups/orders-2026-12-04.sql'), data['orders-2026-12-04.sql']);
}

/** The host's paths as this test's host has them. */
const onHost = (text: string): string => text.replaceAll('/var/log/orders', `${hostRoot}/var/log/orders`).replaceAll('/var/backups', `${hostRoot}/var/backups`);

/** The SSH policy and its credentials Secret, aimed at the harness's sshd (its address, user, key and host key). */
async function sshTarget(ns: string): Promise<void> {
  const host = sshd;
  if (host === undefined) throw new Error('sshd did not start');
  const [listenPort = 0] = await freePorts(1);
  const credentials = loadExample('orders-host-ssh-credentials.yaml', { namespace: ns })
    .map((d) => ({ ...d, stringData: { username: host.user, 'ssh-privatekey': host.clientKey, known_hosts: host.knownHosts } }));
  const policies = loadExample('accesspolicy-ssh.yaml', { namespace: ns }).map((d) => {
    const spec = JSON.parse(onHost(JSON.stringify(d.spec))) as AccessPolicySpec & { target: { endpoint: string; listenPort: number } };
    spec.target.endpoint = `${host.host}:${host.port}`;
    spec.target.listenPort = listenPort;
    return { ...d, spec };
  });
  // The Secret first: the webhook refuses a policy whose Secret is missing.
  await apply(credentials);
  await apply(policies);
}

beforeAll(async () => {
  const dir = join(loadHarnessState().runDir, `example-ssh-${process.pid}`);
  mkdirSync(join(dir, 'host'), { recursive: true });
  hostRoot = realpathSync(join(dir, 'host'));
  writeHostFiles();
  sshd = await startSshd(join(dir, 'sshd'));
  stack = await startStack({ agent: 'ssh-job', approvalWait: '10s', progress: () => undefined, beforeAgent: sshTarget });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  await sshd?.stop();
}, 120_000);

/** What the kind scenario checks of the injected pod (checkSshInjection): the ssh_config, the read-only ssh volume only. */
function expectInjectedSsh(s: Stack): void {
  const container = s.pod.spec.containers.find((c) => c.name === 'agent');
  expect(container?.env).toContainEqual({ name: 'ORDERS_HOST_SSH_CONFIG', value: '/var/run/guarita/ssh/orders-host/ssh_config' });
  const mounts = (container?.volumeMounts ?? []) as { name: string; readOnly?: boolean }[];
  expect(mounts.filter((m) => m.name.startsWith('guarita-'))).toEqual([{ name: 'guarita-agent-ssh', mountPath: '/var/run/guarita/ssh', readOnly: true }]);
  expect(JSON.stringify(container)).not.toContain('orders-host-ssh-credentials');
}

describe('the example\'s ssh Job on the local control plane', () => {
  it('runs diagnostics, reads the log masked, is denied rm and the upload, waits for the DPO, reads the backup once, downloads the log; recorded and verified', async () => {
    const s = stack;
    if (s === undefined) throw new Error('the stack did not start');
    expect(s.pod.spec.initContainers?.[0]?.name).toBe('guarita-proxy');
    expectInjectedSsh(s);
    const env = { LOG_DIR: onHost('/var/log/orders'), BACKUP_DIR: onHost('/var/backups') };
    // The pod's own projected token (materialised by the kubelet stand-in), longer than OpenSSH sends at once.
    const { ran, approval } = await runApprovingHeld(s.namespace, isBackupRead, 'the ssh agent\'s backup read', () => runAgentContainer(s, 'agent', env));
    const detail = `ssh agent exited ${ran.code}\n--- stdout ---\n${ran.stdout}\n--- stderr ---\n${ran.stderr}\n--- sidecar ---\n${s.sidecar.log(40)}`;
    expect({ code: ran.code, detail: ran.code === 0 ? '' : detail }).toEqual({ code: 0, detail: '' });
    expect(() => checkSshOutput(ran.stdout)).not.toThrow();
    const consumed = await kubectl(['get', 'approvalrequest', approval, '-n', s.namespace, '-o', 'jsonpath={.status.phase}'], { user: 'admin' });
    expect(consumed.stdout).toBe('Consumed');
    // The host kept its log (rm denied) and got no upload.
    expect(existsSync(join(hostRoot, 'var/log/orders/app.log'))).toBe(true);
    expect(existsSync(join(hostRoot, 'var/log/orders/app.log.copy'))).toBe(false);

    // The session's records reach the operator's export, masked; the chain verifies.
    const audit = await auditPolicy(s, SSH_POLICY, (exported) => sshRecording(exported, approval));
    expect(audit.summary).toMatch(/^ssh: \d+ commands recorded \(the approved backup read in session \S+\), outputs masked$/);
    expect(audit.online).toEqual({ code: 0, out: '' });
    expect(audit.offline).toEqual({ code: 0, out: '' });
  }, 300_000);

  it('the pod\'s own service-account token is over 1023 bytes: sent in parts through the sidecar\'s askpass; whole to any other prompt; a helper that prints it whole to every prompt is cut and refused', async () => {
    const s = stack;
    if (s === undefined) throw new Error('the stack did not start');
    const root = join(loadHarnessState().runDir, `stack-${s.id}`, 'pod');
    const agent = await materialiseContainer(adminApi(), s.pod, 'agent', root);
    const tokenFile = join(agent.mounts['/var/run/agent'] ?? '', 'token');
    expect(readFileSync(tokenFile, 'utf8').trim().length).toBeGreaterThan(1023);
    const config = agent.env.ORDERS_HOST_SSH_CONFIG ?? '';
    const helper = join(dirname(config), 'askpass');
    const ssh = (askpass: string): Promise<{ code: number | null; stdout: string; stderr: string }> => collect(spawn('ssh', ['-F', config, 'customer-support@orders-host', 'uptime'], {
      env: { PATH: process.env.PATH ?? '', HOME: root, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: 'none', GUARITA_SSH_TOKEN_FILE: tokenFile },
    }), '');
    const ran = await ssh(helper);
    expect({ code: ran.code, stderr: ran.stderr }).toEqual({ code: 0, stderr: '' });
    // The helper answers a prompt without a part with the whole token (a person's or another tool's prompt).
    const whole = await collect(spawn(helper, ['Password: '], { env: { PATH: process.env.PATH ?? '', GUARITA_SSH_TOKEN_FILE: tokenFile } }), '');
    expect(whole.stdout).toBe(readFileSync(tokenFile, 'utf8').trim());
    // The convention before: a script printing the whole token. OpenSSH cuts it at 1023 bytes.
    const cat = join(root, 'askpass-cat');
    writeFileSync(cat, `#!/bin/sh\nexec cat ${tokenFile}\n`, { mode: 0o700 });
    const cut = await ssh(cat);
    // Refused (after three tries the sidecar ends the connection).
    expect(cut.code).toBe(255);
    expect(cut.stdout).toBe('');
  }, 60_000);
});
