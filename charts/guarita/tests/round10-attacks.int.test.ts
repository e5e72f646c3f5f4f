// Round 10: adversarial review of what `helm install` gives a platform team with default values.
// Report: docs/security-model.md, "Round 10 review: root next to the proxy". Each test states what docs/security-model.md promises and
// FAILS on the current chart:
//
// B1. The webhook ServiceAccount may `list` pods in EVERY namespace (ClusterRole, for the namespace
//     opt-in judgement), kube-system and the release namespace included, which the webhook is never
//     called for (excluded by name). docs/security-model.md's "RBAC, per identity" table does not
//     list this grant at all (webhook SA: AccessPolicies, namespaces, Secrets by name, SARs, its own
//     TLS objects). Pod specs carry literal `env[].value`s; with the cluster-wide Secret `get` and
//     the egress of B2, a compromised webhook reads and ships every pod spec of the cluster.
//     (charts/guarita/tests/install.int.test.ts lists `list pods` in the rule set, so the chart is
//     as its author meant; the table and the scope are what is wrong.)
// B2. The NetworkPolicies rendered with default values let the webhook and the operator reach ANY
//     address on TCP 443/6443 and 53: `networkPolicy.apiServer.cidrs` defaults to [] and the rule
//     is then rendered without `to`. docs/security-model.md ("What Guarita protects against":
//     "both may only reach DNS and the apiserver") says otherwise; only values.yaml's comment says
//     "Empty cidrs: any address on these ports".
// B3. The chart renders, without a word, a namespace it labels guarita.io/injection=enabled itself
//     (sidecar.rbac.namespaces[].create) while webhook.excludedNamespaces takes it out of every
//     webhook's namespaceSelector: its pods are neither injected nor guarded (they may mount the
//     credentials Secret, hostPath, the operator-audience token), yet the operator's NetworkPolicy
//     admits them and the operator's evidence check (core/kube/evidence-source.ts: the namespace
//     label, the status annotation, a container named guarita-proxy) accepts a pod shaped like an
//     injected one there. The schema refuses typos "naming the field"; this contradiction passes.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { kubeconfigPath, kubectl } from '../../../e2e/harness/state.ts';
import { judgeEvidenceSource } from '../../../core/kube/evidence-source.ts';
import { CHART_DIR, find, helm, REQUIRED_VALUES, template, templateRaw } from './helm.ts';

const id = randomBytes(3).toString('hex');
const release = `guarita-r10-${id}`;
const ns = `guarita-system-r10-${id}`;
const WEBHOOK = `${release}-webhook`;
const admin = { user: 'admin' } as const;
let installOutput = '';

async function ok(args: string[]): Promise<string> {
  const result = await kubectl(args, admin);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function can(who: string, verb: string, resource: string, namespace: string): Promise<boolean> {
  const result = await kubectl(['auth', 'can-i', verb, resource, '--as', who, '-n', namespace], admin);
  return result.stdout.trim() === 'yes';
}

beforeAll(async () => {
  await ok(['apply', '-f', join(CHART_DIR, 'crds')]);
  await ok(['wait', '--for=condition=Established', 'crd/accesspolicies.guarita.io', 'crd/approvalrequests.guarita.io', '--timeout=30s']);
  // Default values; only the configurations are left out, as install.int.test.ts does (the apiserver is shared).
  const result = await helm(['install', release, CHART_DIR, '--namespace', ns, '--create-namespace', '--skip-crds', '-f', REQUIRED_VALUES, '--set', 'webhook.configurations.create=false'], { kubeconfig: kubeconfigPath('admin'), timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`helm install failed: ${result.stderr}`);
  installOutput = result.stdout;
}, 180_000);

afterAll(async () => {
  await helm(['uninstall', release, '--namespace', ns], { kubeconfig: kubeconfigPath('admin'), timeoutMs: 120_000 });
  await kubectl(['delete', 'namespace', ns, '--wait=false'], admin);
}, 180_000);

describe('round 10, B1: the webhook ServiceAccount reads every pod spec of the cluster', () => {
  const webhookSa = (): string => `system:serviceaccount:${ns}:${WEBHOOK}`;

  it('the webhook may not list pods in namespaces it is never called for (kube-system, its own release namespace)', async () => {
    // The webhook is never asked about kube-system or its own namespace (excluded by name in every namespaceSelector).
    const kubeSystem = await can(webhookSa(), 'list', 'pods', 'kube-system');
    const own = await can(webhookSa(), 'list', 'pods', ns);
    expect({ kubeSystem, own }).toEqual({ kubeSystem: false, own: false });
  });

  it('docs/security-model.md\'s RBAC table names every grant the webhook holds (it omits `list pods`)', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(join(CHART_DIR, '..', '..', 'docs', 'security-model.md'), 'utf8');
    const row = doc.split('\n').find((l) => l.startsWith('| webhook SA |')) ?? '';
    expect(row).not.toBe('');
    // The grant exists, scoped since the round 10 fix to sidecar.rbac.namespaces (install.int.test.ts's rule set has it too) ...
    const scoped = await template({ set: ['sidecar.rbac.namespaces[0].namespace=team-a'] });
    const role = find(scoped, 'Role').find((r) => r.metadata.namespace === 'team-a' && JSON.stringify(r).includes('"pods"'));
    expect(role).toBeDefined();
    // ... and the table's "May" column should say so.
    expect(row.split('|')[2]).toMatch(/pods/);
  });
});

describe('round 10, B2: default NetworkPolicies and what the docs say they allow', () => {
  // Fix (round 10): the chart cannot know the apiserver's address, so the default stays installable
  // with the rule open on the API ports, and says so where the installer looks: NOTES.txt and values.yaml.
  it('with default values the API egress rule has no destination, and the install notes warn about it, naming the value', async () => {
    const objects = await template({});
    const policies = find(objects, 'NetworkPolicy');
    expect(policies).toHaveLength(2);
    for (const p of policies) {
      const egress = (p.spec as { egress: { ports?: { port: number }[]; to?: unknown[] }[] }).egress;
      const api = egress.find((r) => (r.ports ?? []).some((port) => port.port === 443));
      expect(api).toBeDefined();
      expect(api?.to).toBeUndefined();
    }
    expect(installOutput).toContain('WARNING: networkPolicy.apiServer.cidrs is empty: the webhook\'s and the operator\'s NetworkPolicies');
    expect(installOutput).toContain('ANY address on ports 443, 6443');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')).toContain('both components may reach ANY\n  # address on these ports');
  });

  it('with networkPolicy.apiServer.cidrs set, both policies limit the API ports to those addresses', async () => {
    const objects = await template({ set: ['networkPolicy.apiServer.cidrs[0]=10.0.0.1/32'] });
    for (const p of find(objects, 'NetworkPolicy')) {
      const egress = (p.spec as { egress: { ports?: { port: number }[]; to?: unknown[] }[] }).egress;
      const api = egress.find((r) => (r.ports ?? []).some((port) => port.port === 443));
      expect(api?.to).toEqual([{ ipBlock: { cidr: '10.0.0.1/32' } }]);
    }
  });
});

describe('round 10, B3: a namespace the chart opts in and every webhook excludes', () => {
  it('refuses sidecar.rbac.namespaces[].create for a namespace listed in webhook.excludedNamespaces', async () => {
    const rendered = await templateRaw({ set: ['sidecar.rbac.namespaces[0].namespace=team-a', 'sidecar.rbac.namespaces[0].create=true', 'webhook.excludedNamespaces[0]=team-a'] });
    if (rendered.code === 0) {
      // What was rendered: the namespace labelled for injection, and excluded from the pod webhooks.
      const docs = rendered.stdout;
      expect(docs).toMatch(/kind: Namespace\nmetadata:\n {2}name: team-a\n {2}labels:\n {4}guarita\.io\/injection: enabled/);
      expect(docs).toMatch(/"operator":"NotIn","values":\[[^\]]*"team-a"\]/);
      // The operator's evidence check then accepts a pod no webhook ever saw, shaped like an injected one.
      const verdict = judgeEvidenceSource(
        { namespace: 'team-a', name: 'forged', uid: 'u1' },
        { metadata: { labels: { 'guarita.io/injection': 'enabled' } } },
        { metadata: { name: 'forged', namespace: 'team-a', uid: 'u1', annotations: { 'guarita.io/status': 'injected', 'guarita.io/policies': 'orders-db' } }, spec: { containers: [{ name: 'guarita-proxy', env: [{ name: 'GUARITA_TARGETS', value: '[{"policy":"orders-db"}]' }] }] } },
      );
      expect(verdict).toEqual({ ok: true, policies: ['orders-db'] });
    }
    expect(rendered.code).not.toBe(0);
    expect(rendered.stderr).toContain('team-a');
    expect(rendered.stderr).toContain('sidecar.rbac.namespaces[0].namespace: team-a is also in webhook.excludedNamespaces');
  });

  it.each(['kube-system', 'kube-public', 'kube-node-lease', 'guarita-system'])('refuses sidecar.rbac.namespaces naming %s, which the pod webhooks never judge (the release namespace is guarita-system here)', async (name) => {
    const rendered = await templateRaw({ set: ['sidecar.rbac.namespaces[0].namespace=ok-agents', `sidecar.rbac.namespaces[1].namespace=${name}`] });
    expect(rendered.code).not.toBe(0);
    expect(rendered.stderr).toContain(`sidecar.rbac.namespaces[1].namespace: ${name} is `);
    expect(rendered.stderr).toContain('which the pod webhooks never judge');
  });
});
