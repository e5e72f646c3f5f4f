// The CLI reaches the operator by itself (issue 21): with nothing but the auditor's kubeconfig it
// resolves the chart's operator Service to a Ready pod, port-forwards to it through the real
// apiserver, reads the operator's CA from the ConfigMap the chart writes, and verifies the
// certificate the chart issued against the Service's DNS name. The operator is the real process
// (e2e/support/operator-process.ts) serving the chart's certificate; the apiserver's port-forward
// reaches it through the kubelet stand-in (there is no node), as a kubelet would reach its pod.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { one, template } from '../../charts/guarita/tests/helm.ts';
import { kubeconfigPath } from '../../e2e/harness/state.ts';
import { apply, createNamespaces } from '../../e2e/support/kube-apply.ts';
import { installCrds, k, suffix } from '../../e2e/support/kubectl.ts';
import { spawnCli, type SpawnedCli } from './spawn-cli.ts';
import { startKubeletStandIn, type KubeletStandIn } from '../../e2e/support/kubelet-stand-in.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';

jest.setTimeout(120_000);

const id = suffix();
const opNs = `clipf-op-${id}`;
const ns = `clipf-${id}`;
const release = `r${id}`;
const fullname = `${release}-guarita`;
let operator: OperatorProcess;
let standIn: KubeletStandIn;
let dir: string;
let harnessCert: string;

/** The real CLI with only a kubeconfig: no operator URL, CA or server name. */
function guarita(args: string[], extraEnv: Record<string, string> = {}): Promise<SpawnedCli> {
  return spawnCli(args, { PATH: process.env.PATH ?? '', HOME: dir, KUBECONFIG: kubeconfigPath('audrey'), ...extraEnv });
}

beforeAll(async () => {
  // The operator waits for the CRDs: installed here, not left to whichever test ran before.
  await installCrds();
  await createNamespaces(ns);
  const fx = await operatorFixture(opNs);
  dir = fx.dir;
  harnessCert = fx.cert.certFile;
  // The chart as installed in opNs for agents in ns: its operator Service, its certificate and the CA ConfigMap.
  // A release name of its own: the auditor ClusterRole is cluster-scoped. Auditors (the harness's group) bound in ns.
  const rendered = await template({
    release, namespace: opNs,
    set: [`sidecar.rbac.namespaces[0].namespace=${ns}`, `rbac.auditor.bindings[0].namespace=${ns}`, 'rbac.auditor.bindings[0].subjects[0].kind=Group', 'rbac.auditor.bindings[0].subjects[0].name=auditors'],
  });
  const service = one(rendered, 'Service', `${fullname}-operator`, opNs);
  const tls = one(rendered, 'Secret', `${fullname}-operator-tls`, opNs) as unknown as { data: Record<string, string> };
  const caConfigMap = one(rendered, 'ConfigMap', `${fullname}-operator-ca`, ns);
  // The chart's auditor RBAC, as installed: nothing else is granted to the auditor below.
  const rbac = [one(rendered, 'ClusterRole', `${fullname}-auditor`), one(rendered, 'RoleBinding', `${fullname}-auditor-0`, ns), one(rendered, 'Role', `${fullname}-auditor-operator-access`, opNs), one(rendered, 'RoleBinding', `${fullname}-auditor-operator-access`, opNs)];
  const certFile = join(dir, 'chart-tls.crt');
  const keyFile = join(dir, 'chart-tls.key');
  writeFileSync(certFile, Buffer.from(tls.data['tls.crt'] ?? '', 'base64'));
  writeFileSync(keyFile, Buffer.from(tls.data['tls.key'] ?? '', 'base64'), { mode: 0o600 });
  await apply([service, caConfigMap, ...rbac]);
  operator = await startOperator({ ...fx, cert: { certFile, keyFile }, watchNamespaces: [ns] });
  await waitServing(operator);
  // The operator's pod, as the chart's Deployment makes it, on the stand-in's node; its https port reaches the process.
  standIn = await startKubeletStandIn(`clipf-node-${id}`);
  const selector = (service as unknown as { spec: { selector: Record<string, string> } }).spec.selector;
  await standIn.runPod(opNs, 'guarita-operator-7d9c-abcde', { labels: selector, containers: [{ name: 'operator', image: 'registry.invalid/guarita:test', ports: [{ name: 'https', containerPort: 8443 }] }] });
  standIn.forward(opNs, 'guarita-operator-7d9c-abcde', 8443, Number(new URL(operator.url).port));
}, 240_000);

afterAll(async () => {
  await k(['delete', 'clusterrole', `${fullname}-auditor`, '--ignore-not-found']);
  await standIn?.stop();
  await operator?.stop();
});

describe('guarita reaches the operator by itself', () => {
  it('lists sessions with nothing but a kubeconfig: Service → Ready pod → port-forward, the chart\'s CA and certificate', async () => {
    const r = await guarita(['sessions', 'list', '-n', ns, '--operator-service', `${opNs}/${fullname}-operator`]);
    // The operator's own answer (authenticated, authorized by RBAC), not a connection error.
    expect(r.stderr).toBe(`No recorded sessions in namespace ${ns}.\n`);
    expect(r.code).toBe(0);
  });

  it('takes the Service from GUARITA_OPERATOR_SERVICE, and still verifies the certificate (a wrong CA fails closed)', async () => {
    const ok = await guarita(['sessions', 'list', '-n', ns], { GUARITA_OPERATOR_SERVICE: `${opNs}/${fullname}-operator` });
    expect(ok.code).toBe(0);
    // Another CA's certificate (the harness's own operator certificate) must not be accepted for the chart's.
    const wrongCa = harnessCert;
    const refused = await guarita(['sessions', 'list', '-n', ns, '--operator-ca', wrongCa], { GUARITA_OPERATOR_SERVICE: `${opNs}/${fullname}-operator` });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/not trusted|certificate/);
  });

  it('says what is missing when the Service does not exist, and how to connect instead', async () => {
    const r = await guarita(['sessions', 'list', '-n', ns, '--operator-service', `${opNs}/no-such-operator`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`Service ${opNs}/no-such-operator`);
    expect(r.stderr).toContain('--operator-url');
  });
});
