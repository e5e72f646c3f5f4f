// The README's install block (between <!-- install:begin --> and <!-- install:end -->), extracted
// from README.md and run line by line in one bash session on the harness apiserver, in a fresh
// set of names: the release, guarita-system, lgpd-orders and orders-data get this run's suffix
// (the example is copied with the same replacements), and the CA file is the harness apiserver's
// webhook client CA.
//
// What an apiserver without nodes cannot do is not run here, and says so: the harness has no
// kubelet or controllers, so Deployments never roll out, the Job never runs, and there are no
// logs or port-forwards; those lines (rollout status, the Job's wait and logs, the port-forward and
// the CLI calls through it) run on a real cluster in the kind workflow (e2e/kind). In their place
// the test does what the cluster would have done, and says so: it creates the ApprovalRequest the
// agent's sidecar would create for the held export, so the README's approval lines run for real
// (RBAC of the dpo group included). And the release renders no webhook configurations
// (webhook.configurations.create=false, the one addition to the README's line): on this shared
// apiserver, failurePolicy Fail configurations pointing at a webhook no node runs would refuse
// every other test's pods and AccessPolicies. The CA and server name the README gives the CLI are
// checked against the operator's serving certificate the chart installed.
import { randomBytes } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CHART_DIR } from '../charts/guarita/tests/helm.ts';
import { runCommand } from './harness/exec.ts';
import { binDir, REPO_ROOT } from './harness/paths.ts';
import { kubeconfigPath, kubectl, requireKube } from './harness/state.ts';
import { installCommands, needsNodes } from './support/readme.ts';
import { approvalRequest } from '../webhook/test/fixtures.ts';

const id = randomBytes(3).toString('hex');
const release = `guarita-readme-${id}`;
const names: [string, string][] = [
  ['helm install guarita ', `helm install ${release} `],
  // Objects named after the release.
  ['guarita-operator-ca', `${release}-operator-ca`],
  ['guarita-operator.', `${release}-operator.`],
  ['guarita-system', `readme-system-${id}`],
  ['lgpd-orders', `readme-agents-${id}`],
  ['orders-data', `readme-data-${id}`],
];
const admin = { user: 'admin' } as const;
let work = '';

function rename(text: string): string {
  return names.reduce((t, [from, to]) => t.replaceAll(from, to), text);
}

/** A copy of examples/ with this run's names (in folder names too: the README names the folder), in `work`. */
function renamedExamples(): void {
  for (const entry of readdirSync(join(REPO_ROOT, 'examples'))) cpSync(join(REPO_ROOT, 'examples', entry), join(work, 'examples', rename(entry)), { recursive: true });
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else writeFileSync(path, rename(readFileSync(path, 'utf8')));
    }
  };
  walk(join(work, 'examples'));
  cpSync(CHART_DIR, join(work, 'charts/guarita'), { recursive: true });
}

const commands = installCommands();
const runnable = commands.filter((c) => !needsNodes(c));
/** Where the sidecar would have created the held export's ApprovalRequest: before the README waits for one. */
const heldAt = runnable.findIndex((c) => c.startsWith('until ') && c.includes('approvalrequests'));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'guarita-readme-'));
  renamedExamples();
  writeFileSync(join(work, 'apiserver-webhook-client-ca.crt'), readFileSync(requireKube().webhookClientCaFile ?? requireKube().caFile));
  // The CRDs as the other tests apply them (helm installs crds/ only when they are missing).
  expect((await kubectl(['apply', '-f', join(CHART_DIR, 'crds')], admin)).code).toBe(0);
}, 60_000);

afterAll(async () => {
  const env = { ...process.env, KUBECONFIG: kubeconfigPath('admin'), PATH: `${binDir()}:${process.env.PATH ?? ''}` };
  await runCommand('helm', ['uninstall', `guarita-readme-${id}`, '-n', `readme-system-${id}`], { env, timeoutMs: 120_000 });
  await kubectl(['delete', 'namespace', `readme-agents-${id}`, `readme-data-${id}`, `readme-system-${id}`, '--ignore-not-found', '--wait=false'], admin);
  if (work !== '') rmSync(work, { recursive: true, force: true });
}, 180_000);

describe('README.md install block', () => {
  it('installs the chart, then applies the example, in that order', () => {
    expect(commands[0]).toMatch(/^helm install guarita charts\/guarita -n guarita-system --create-namespace --set-file webhook\.clientAuth\.caBundle=\S+ --set 'sidecar\.rbac\.namespaces\[0\]\.namespace=lgpd-orders' --set 'sidecar\.rbac\.namespaces\[0\]\.serviceAccounts\[0\]=support-agent' --set 'sidecar\.rbac\.namespaces\[0\]\.create=true'/);
    expect(commands).toContain('kubectl apply -k examples/lgpd-orders');
    expect(commands.some((c) => c.startsWith('kubectl -n lgpd-orders patch') && c.includes('"decision":"Approved"') && c.includes('--as-group dpo'))).toBe(true);
    expect(commands.some((c) => c.includes('GUARITA_OPERATOR_CA=operator-ca.crt') && c.includes('GUARITA_OPERATOR_TLS_SERVER_NAME=guarita-operator.guarita-system.svc'))).toBe(true);
    expect(runnable.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'helm install guarita', 'kubectl apply -k', 'until [ -n', 'kubectl -n lgpd-orders', 'kubectl -n lgpd-orders', 'export GUARITA_OPERATOR_URL=https://127.0.0.1:8443 GUARITA_OPERATOR_CA=operator-ca.crt',
    ]);
    expect(commands.filter(needsNodes)).toHaveLength(commands.length - runnable.length);
  });

  it('runs line by line on a fresh apiserver namespace set, up to what needs nodes', async () => {
    const agents = `readme-agents-${id}`;
    // Stand-in for the agent's sidecar (no node runs it here): the held export's ApprovalRequest.
    writeFileSync(join(work, 'held-export.json'), JSON.stringify(approvalRequest(agents, 'orders-db-held-export')));
    const script = runnable.map((line, i) => {
      const renamed = rename(line) + (line.startsWith('helm install ') ? ' --set webhook.configurations.create=false' : '');
      const held = i === heldAt ? 'kubectl create -f held-export.json\n' : '';
      return `echo "::line ${i}"\n${held}${renamed}`;
    }).join('\n');
    const env = { ...process.env, KUBECONFIG: kubeconfigPath('admin'), PATH: `${binDir()}:${process.env.PATH ?? ''}`, HELM_CACHE_HOME: join(work, 'helm/cache'), HELM_CONFIG_HOME: join(work, 'helm/config'), HELM_DATA_HOME: join(work, 'helm/data') };
    const result = await runCommand('bash', ['-euo', 'pipefail', '-c', script], { cwd: work, env, timeoutMs: 240_000 });
    const failedAt = [...result.stdout.matchAll(/::line (\d+)/g)].pop()?.[1];
    expect({ code: result.code, failedLine: result.code === 0 ? undefined : runnable[Number(failedAt)], stderr: result.code === 0 ? '' : result.stderr }).toEqual({ code: 0, failedLine: undefined, stderr: '' });

    const namespace = JSON.parse((await kubectl(['get', 'namespace', agents, '-o', 'json'], admin)).stdout) as { metadata: { labels: Record<string, string> } };
    expect(namespace.metadata.labels['guarita.io/injection']).toBe('enabled');
    const inAgents = (await kubectl(['get', 'role,rolebinding,configmap,serviceaccount,secret,accesspolicies,jobs', '-n', agents, '-o', 'name'], admin)).stdout.split('\n').filter(Boolean).sort();
    expect(inAgents).toEqual(expect.arrayContaining([
      'accesspolicy.guarita.io/customers-api', 'accesspolicy.guarita.io/orders-db', `configmap/guarita-readme-${id}-operator-ca`, 'job.batch/support-agent',
      `role.rbac.authorization.k8s.io/guarita-readme-${id}-sidecar`, `rolebinding.rbac.authorization.k8s.io/guarita-readme-${id}-approver-0`,
      `rolebinding.rbac.authorization.k8s.io/guarita-readme-${id}-sidecar`, 'secret/orders-db-credentials', 'serviceaccount/support-agent',
    ]));
    const sidecar = await kubectl(['auth', 'can-i', 'watch', 'accesspolicies.guarita.io', '-n', agents, '--as', `system:serviceaccount:${agents}:support-agent`], admin);
    expect(sidecar.stdout.trim()).toBe('yes');
    expect((await kubectl(['get', 'deployment', 'orders-db', 'customers-api', '-n', `readme-data-${id}`, '-o', 'name'], admin)).stdout.split('\n').filter(Boolean)).toHaveLength(2);

    // The approval line ran as a member of dpo, through the approver binding the install made.
    const reviews = await kubectl(['get', 'approvalrequest', 'orders-db-held-export', '-n', agents, '-o', 'jsonpath={.spec.reviews[*].decision}'], admin);
    expect(reviews.stdout).toBe('Approved');

    // The CA the README fetches, and the server name it gives the CLI, are those of the operator's certificate.
    const ca = new X509Certificate(readFileSync(join(work, 'operator-ca.crt')));
    const secret = JSON.parse((await kubectl(['get', 'secret', `${release}-operator-tls`, '-n', `readme-system-${id}`, '-o', 'json'], admin)).stdout) as { data: Record<string, string> };
    const serving = new X509Certificate(Buffer.from(secret.data['tls.crt'] ?? '', 'base64'));
    expect(serving.verify(ca.publicKey)).toBe(true);
    const serverName = /GUARITA_OPERATOR_TLS_SERVER_NAME=(\S+)/.exec(rename(commands.find((c) => c.includes('GUARITA_OPERATOR_TLS_SERVER_NAME')) ?? ''))?.[1] ?? '';
    expect(serverName).toBe(`${release}-operator.readme-system-${id}.svc`);
    expect(serving.checkHost(serverName)).toBe(serverName);
  }, 300_000);
});
