// The example's kubectl Job (examples/lgpd-orders/agent-kubectl-job.yaml) end to end on the local
// control plane: its pod template created through the apiserver (the webhook injects the sidecar
// and the KUBECONFIG), the Kubernetes API policy aimed at the harness's apiserver with a token of
// its own service account (kubernetes-api-credentials.yaml's Roles), the injected sidecar started
// from the stored pod spec, and the kubectl container's own script run with its materialised
// KUBECONFIG and token: the real kubectl (.cache/bin/kubectl) through the sidecar to the real
// apiserver. The DPO approves the held exec with kubectl patch; the output passes the same checks
// as on kind (e2e/kind/scenario.ts checkKubectlOutput), and so do the exec's recorded stream and
// guarita verify.
//
// What stands in for a node (there is none here): the orders-db pod is bound to the kubelet
// stand-in (e2e/support/kubelet-stand-in.ts), to which the apiserver proxies its exec and log
// requests as to a kubelet. Its exec runs psql on this machine against the harness's PostgreSQL
// (seeded with seed.sql; the pod's environment names it); its log is what a PostgreSQL with
// log_statement=mod (orders-db.yaml) prints while seed.sql runs, written from seed.sql.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import type { AccessPolicySpec } from '../../crds/types.ts';
import { freePorts } from '../harness/ports.ts';
import { binDir } from '../harness/paths.ts';
import { kubectl, postgresConnection, requireKube, requirePostgres } from '../harness/state.ts';
import { EXAMPLE_DIR, loadExample, type Manifest } from '../support/examples.ts';
import { adminApi, apply } from '../support/kube-apply.ts';
import { startKubeletStandIn, type KubeletStandIn } from '../support/kubelet-stand-in.ts';
import { checkKubectlOutput, execRecording } from '../kind/scenario.ts';
import { DATA_NAMESPACE, isDatabaseExec, KUBERNETES_POLICY } from '../kind/manifests.ts';
import type { Ran } from './agent.ts';
import { runApprovingHeld } from './approver.ts';
import { auditPolicy } from './audit.ts';
import { runAgentContainer, startStack, type Stack } from './stack.ts';

const TARGET_SA = 'support-agent-kube-target';

let stack: Stack | undefined;
let kubelet: KubeletStandIn | undefined;
let dbPod = '';

/** The log orders-db.yaml's PostgreSQL prints while its first start runs seed.sql (log_statement=mod). */
function seedLog(): string {
  const seed = readFileSync(join(EXAMPLE_DIR, 'seed.sql'), 'utf8');
  const insert = /^INSERT INTO customers[\s\S]*?;$/m.exec(seed)?.[0];
  if (insert === undefined) throw new Error('seed.sql has no INSERT INTO customers');
  return ['PostgreSQL init process complete; ready for start up.', `2026-12-05 03:50:00.000 UTC [48] LOG:  statement: ${insert}`, '2026-12-05 03:50:01.000 UTC [1] LOG:  database system is ready to accept connections', ''].join('\n');
}

/** The database's pod, bound to the stand-in kubelet: exec runs psql against the harness's PostgreSQL. */
async function startDatabasePod(k: KubeletStandIn, id: string): Promise<string> {
  await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: DATA_NAMESPACE } }]);
  // Left by an earlier run (bound to a stand-in that is gone): the agent picks the first Running
  // one. Forced: a graceful delete of a bound pod waits for its kubelet, which is gone.
  await kubectl(['delete', 'pods', '-n', DATA_NAMESPACE, '-l', 'app=orders-db', '--grace-period=0', '--force', '--ignore-not-found'], { user: 'admin' });
  const labels = { app: 'orders-db' };
  await apply([{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'orders-db', namespace: DATA_NAMESPACE, labels }, spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'postgres', image: 'postgres:17-alpine' }] } } } }]);
  const name = `orders-db-${id}`;
  await k.runPod(DATA_NAMESPACE, name, { labels, containers: [{ name: 'postgres', image: 'postgres:17-alpine' }] });
  const pg = requirePostgres();
  const admin = postgresConnection('guarita_admin');
  k.podEnv(DATA_NAMESPACE, name, { PGHOST: pg.socketDir, PGPORT: String(pg.port), PGUSER: admin.user, PGPASSWORD: admin.password });
  k.containerLog(DATA_NAMESPACE, name, 'postgres', seedLog());
  return name;
}

/** The Kubernetes API policy and the proxy's credential, aimed at the harness's apiserver. */
async function kubernetesTarget(ns: string): Promise<void> {
  const kube = requireKube();
  const [listenPort = 0] = await freePorts(1);
  // As written (loadExample would move every document into ns): the Role and RoleBinding of
  // orders-data stay there, named per stack; the subjects move with the agent; the Secret is filled below.
  const credentials = parseAllDocuments(readFileSync(join(EXAMPLE_DIR, 'kubernetes-api-credentials.yaml'), 'utf8')).map((d) => d.toJS() as Manifest);
  const rbac = credentials.filter((d) => d.kind !== 'Secret').map((d): Manifest => {
    const inData = d.metadata?.namespace === DATA_NAMESPACE;
    const metadata = { ...d.metadata, namespace: inData ? DATA_NAMESPACE : ns, ...(inData ? { name: `${TARGET_SA}-${ns}` } : {}) };
    const roleRef = d.kind === 'RoleBinding' && inData ? { ...(d.roleRef as object), name: `${TARGET_SA}-${ns}` } : d.roleRef;
    const subjects = (d.subjects as { namespace?: string }[] | undefined)?.map((subject) => ({ ...subject, namespace: ns }));
    return { ...d, metadata, ...(roleRef === undefined ? {} : { roleRef }), ...(subjects === undefined ? {} : { subjects }) };
  });
  await apply(rbac);
  // No token controller runs here: the Secret gets a bound token of the target's service account, as it would.
  const token = await adminApi().create<{ status: { token: string } }>(`/api/v1/namespaces/${ns}/serviceaccounts/${TARGET_SA}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } });
  await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kubernetes-api-credentials', namespace: ns }, type: 'Opaque', stringData: { token: token.status.token, 'ca.crt': readFileSync(kube.caFile, 'utf8') } }]);
  const policies = loadExample('accesspolicy-kubernetes.yaml', { namespace: ns }).map((d) => {
    const spec = structuredClone(d.spec) as AccessPolicySpec & { target: { endpoint: string; listenPort: number } };
    spec.target.endpoint = kube.apiserverUrl;
    spec.target.listenPort = listenPort;
    return { ...d, spec: JSON.parse(JSON.stringify(spec).replaceAll('"lgpd-orders"', JSON.stringify(ns))) as unknown };
  });
  await apply(policies);
}

beforeAll(async () => {
  const started = await startKubeletStandIn();
  kubelet = started;
  dbPod = await startDatabasePod(started, `${process.pid}`);
  stack = await startStack({ agent: 'kubectl-job', approvalWait: '10s', progress: () => undefined, beforeAgent: kubernetesTarget });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  if (dbPod !== '') await kubectl(['delete', 'pod', dbPod, '-n', DATA_NAMESPACE, '--grace-period=0', '--force', '--ignore-not-found'], { user: 'admin' });
  if (stack !== undefined) await kubectl(['delete', 'role,rolebinding', `${TARGET_SA}-${stack.namespace}`, '-n', DATA_NAMESPACE, '--ignore-not-found'], { user: 'admin' });
  await kubelet?.stop();
}, 120_000);

/** What the kind scenario checks of the injected pod (checkKubectlInjection): KUBECONFIG, read-only agent volumes only. */
function expectInjectedKubectl(s: Stack): void {
  const container = s.pod.spec.containers.find((c) => c.name === 'kubectl');
  expect(container?.env).toContainEqual({ name: 'KUBECONFIG', value: '/var/run/guarita/kubeconfig/config' });
  const mounts = (container?.volumeMounts ?? []) as { name: string; readOnly?: boolean }[];
  expect(mounts.map((m) => ({ agentVolume: m.name.startsWith('guarita-agent-'), readOnly: m.readOnly }))).toEqual([{ agentVolume: true, readOnly: true }, { agentVolume: true, readOnly: true }]);
}

/** The kubectl container of the stored pod, run like the kubelet would, sharing the sidecar's emptyDirs (the proxy's CA). */
function runKubectlAgent(s: Stack): Promise<Ran> {
  // The image's kubectl is the pinned one here.
  return runAgentContainer(s, 'kubectl', { PATH: `${binDir()}:${process.env.PATH ?? ''}` });
}

describe('the example\'s kubectl Job on the local control plane', () => {
  it('lists pods, reads logs masked, is denied Secrets and delete, waits for the DPO, execs once, recorded and verified', async () => {
    const s = stack;
    if (s === undefined) throw new Error('the stack did not start');
    expect(s.pod.spec.initContainers?.[0]?.name).toBe('guarita-proxy');
    expectInjectedKubectl(s);
    const { ran, approval } = await runApprovingHeld(s.namespace, isDatabaseExec, 'the kubectl agent\'s exec into orders-db', () => runKubectlAgent(s));
    const detail = `kubectl agent exited ${ran.code}\n--- stdout ---\n${ran.stdout}\n--- stderr ---\n${ran.stderr}\n--- sidecar ---\n${s.sidecar.log(40)}`;
    expect({ code: ran.code, detail: ran.code === 0 ? '' : detail }).toEqual({ code: 0, detail: '' });

    expect(() => checkKubectlOutput(ran.stdout)).not.toThrow();
    const consumed = await kubectl(['get', 'approvalrequest', approval, '-n', s.namespace, '-o', 'jsonpath={.status.phase}'], { user: 'admin' });
    expect(consumed.stdout).toBe('Consumed');

    // The exec's stream records reach the operator's export, masked; the chain verifies.
    const audit = await auditPolicy(s, KUBERNETES_POLICY, (exported) => execRecording(exported, approval));
    expect(audit.summary).toMatch(/^exec session \S+: \d+ recorded frames, stdout masked$/);
    expect(audit.online).toEqual({ code: 0, out: '' });
    expect(audit.offline).toEqual({ code: 0, out: '' });
  }, 300_000);
});
