// The example the kind scenario (and the README) applies, rendered by the pinned kubectl's
// kustomize, without a cluster: namespaces first, valid policies with service-account identities
// pointing at the example's own Services, an agent that can only act through its audience-bound
// token, the OIDC overlay; the scenario's output checks accept a good run and reject leaks; the
// chart renders with the scenario's values.
import { beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import { validateAccessPolicy } from '../../crds/validators.ts';
import { find, template } from '../../charts/guarita/tests/helm.ts';
import { binDir } from '../harness/paths.ts';
import { OIDC_EXAMPLE_DIR, type Manifest } from '../support/examples.ts';
import { AGENTS_NAMESPACE, DATA_NAMESPACE, EXPORT_SQL, kustomize, rawIdentifiers, seededCustomers } from './manifests.ts';
import { checkAgentOutput, section } from './scenario.ts';

// helm and kubectl are real processes; a loaded machine makes them slow.
jest.setTimeout(60_000);

const KUBECTL = join(binDir(), 'kubectl');
const id = (m: Manifest): string => `${String(m.kind)}/${typeof m.metadata?.namespace === 'string' ? m.metadata.namespace : ''}/${String(m.metadata?.name)}`;
const only = (objects: Manifest[], kind: string, name: string): Record<string, any> => {
  const found = objects.filter((o) => o.kind === kind && o.metadata?.name === name);
  expect(found).toHaveLength(1);
  return found[0] as Record<string, any>;
};

const goodOutput = (rows: { select: string[]; exportRows: string[] }): string => [
  '== select', ...rows.select,
  '== delete', 'ERROR:  the statement is denied by rule deny-unbounded-writes of AccessPolicy orders-db',
  '== count', String(seededCustomers()),
  '== export', 'ERROR:  the command is held for approval: ApprovalRequest orders-db-4f2a awaits exports-need-dpo approvers',
  '== export rows', ...rows.exportRows,
  '== http', '{"customer": {"id": 1, "nome": "Larissa Oliveira", "cpf": "***.***.***-33", "email": "l***@e***.br"}}',
  '== done', '',
].join('\n');

describe('examples/lgpd-orders (kubectl kustomize)', () => {
  let objects: Manifest[] = [];
  beforeAll(async () => {
    objects = await kustomize(KUBECTL);
  });

  it('puts the namespaces first and the agent Job after its policies', () => {
    expect(objects.slice(0, 2).map(id)).toEqual([`Namespace//${AGENTS_NAMESPACE}`, `Namespace//${DATA_NAMESPACE}`]);
    expect(objects[0]?.metadata?.labels).toEqual({ 'guarita.io/injection': 'enabled' });
    expect(objects[1]?.metadata?.labels).toBeUndefined();
    const at = (kind: string, name: string): number => objects.findIndex((o) => o.kind === kind && o.metadata?.name === name);
    expect(at('Secret', 'orders-db-credentials')).toBeLessThan(at('AccessPolicy', 'orders-db'));
    expect(at('AccessPolicy', 'orders-db')).toBeLessThan(at('Job', 'support-agent'));
    expect(at('AccessPolicy', 'customers-api')).toBeLessThan(at('Job', 'support-agent'));
  });

  it('has valid policies with service-account identities, aimed at the example\'s own Services', () => {
    const policies = objects.filter((o) => o.kind === 'AccessPolicy');
    // Other targets of the same agent (accesspolicy-kubernetes.yaml...) join the kustomization.
    expect(policies.map((p) => p.metadata?.name)).toEqual(expect.arrayContaining(['customers-api', 'orders-db']));
    const services = objects.filter((o) => o.kind === 'Service').map((s) => s as Record<string, any>)
      .flatMap((s) => (s.spec.ports as { port: number }[]).map((p) => `${String(s.metadata.name)}.${String(s.metadata.namespace)}.svc.cluster.local:${p.port}`));
    for (const policy of policies) {
      const spec = policy.spec as Record<string, any>;
      expect(validateAccessPolicy(policy)).toMatchObject({ ok: true });
      expect(spec.identity).toEqual({ serviceAccounts: { audiences: ['guarita'] } });
      expect(spec.subjects).toContainEqual({ kind: 'ServiceAccount', name: 'support-agent', namespace: AGENTS_NAMESPACE });
      if (spec.target.protocol === 'postgres' || spec.target.protocol === 'http') expect(services).toContain(String(spec.target.endpoint).replace(/^http:\/\//, ''));
    }
  });

  it('gives the agent an audience-bound token of its own ServiceAccount, never the credentials', () => {
    const sa = only(objects, 'ServiceAccount', 'support-agent');
    expect(sa.automountServiceAccountToken).toBe(false);
    const job = only(objects, 'Job', 'support-agent');
    const pod = job.spec.template;
    expect(pod.metadata.annotations).toEqual({ 'guarita.io/inject': 'true' });
    expect(pod.metadata.labels).toEqual({ app: 'support-agent' });
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.serviceAccountName).toBe('support-agent');
    expect(pod.spec.volumes).toEqual([{ name: 'agent-token', projected: { sources: [{ serviceAccountToken: { audience: 'guarita', expirationSeconds: 3600, path: 'token' } }] } }]);
    expect(pod.spec.containers[0].env).toContainEqual({ name: 'PGOPTIONS', value: '-c guarita.purpose=customer-support' });
    expect(JSON.stringify(job)).not.toContain('orders-db-credentials');
    expect(pod.spec.containers[0].command.join(' ')).toContain(EXPORT_SQL);
  });

  it('seeds its own PostgreSQL with seed.sql, and gives orders_app the password the sidecar uses', () => {
    const db = only(objects, 'Deployment', 'orders-db').spec.template.spec;
    const init = (db.volumes as { name: string; configMap?: { name: string } }[]).find((v) => v.name === 'init')?.configMap?.name ?? '';
    const configMap = only(objects, 'ConfigMap', init);
    expect(Object.keys(configMap.data as object).sort()).toEqual(['00-roles.sh', '10-seed.sql']);
    expect(configMap.data['10-seed.sql']).toContain('GRANT SELECT, INSERT, UPDATE, DELETE ON customers, orders TO orders_app');
    const credentials = only(objects, 'Secret', 'orders-db-credentials').stringData as Record<string, string>;
    const server = only(objects, 'Secret', 'orders-db-server').stringData as Record<string, string>;
    expect(credentials.username).toBe('orders_app');
    expect(server['orders-app-password']).toBe(credentials.password);
  });

  it('has an OIDC overlay: the same policies trusting an issuer, without the service-account agent', async () => {
    const oidc = await kustomize(KUBECTL, OIDC_EXAMPLE_DIR);
    const policies = oidc.filter((o) => o.kind === 'AccessPolicy');
    expect(policies.map((p) => String(p.metadata?.name)).sort()).toEqual(objects.filter((o) => o.kind === 'AccessPolicy').map((p) => String(p.metadata?.name)).sort());
    for (const p of policies) {
      expect((p.spec as Record<string, any>).identity).toEqual({ oidc: { issuer: 'https://idp.example.com', audiences: ['guarita'], groupsClaim: 'groups' } });
      expect(validateAccessPolicy(p)).toMatchObject({ ok: true });
    }
    expect(oidc.filter((o) => o.kind === 'Job')).toEqual([]);
  });

  it('knows the raw identifiers of the seeded customers', () => {
    expect(rawIdentifiers([1])).toEqual(['590.830.166-33', 'larissa.oliveira1@exemplo.com.br', '+55 71 91791-2186']);
    expect(seededCustomers()).toBe(50);
  });
});

describe('scenario checks', () => {
  it('accept a run with masked rows, a denial, a held then approved export', () => {
    const output = goodOutput({ select: ['1|***.***.***-33|l***@e***.br', '2|***.***.***-88|c***@e***.br', '3|***.***.***-11|t***@e***.br'], exportRows: ['1\t***.***.***-33\tl***', '2\t***.***.***-88\tc***'] });
    expect(section(output, 'export rows')).toHaveLength(2);
    expect(() => checkAgentOutput(output)).not.toThrow();
  });

  it('reject a run where a raw CPF reached the agent', () => {
    const output = goodOutput({ select: ['1|590.830.166-33|l***', '2|x|y', '3|x|y'], exportRows: ['1', '2'] });
    expect(() => checkAgentOutput(output)).toThrow('no raw CPF or e-mail reached the agent (leaked: 590.830.166-33)');
  });

  it('accept an export approved within the sidecar\'s wait (nothing printed before its rows), reject another error there', () => {
    const rows = { select: ['1|***.***.***-33|l***@e***.br', '2|x|y', '3|x|y'], exportRows: ['1', '2'] };
    const quick = goodOutput(rows).replace(/== export\n[^\n]*\n/, '== export\n');
    expect(() => checkAgentOutput(quick)).not.toThrow();
    const broken = goodOutput(rows).replace('== export\n', '== export\npsql: error: connection to server on socket failed\n');
    expect(() => checkAgentOutput(broken)).toThrow('the export was held for approval (no other error before it ran)');
  });

  it('reject a run where the DELETE went through', () => {
    const output = goodOutput({ select: ['a', 'b', 'c'], exportRows: ['1', '2'] }).replace('== count', 'DELETE WAS ALLOWED\n== count');
    expect(() => checkAgentOutput(output)).toThrow('the unbounded DELETE was denied');
  });
});

describe('the chart with the scenario\'s values', () => {
  it('creates lgpd-orders, and renders the sidecar Role, the operator CA and the approver binding there', async () => {
    const objects = await template({ values: [join(import.meta.dirname, 'values.yaml')], set: ['image.repository=guarita', 'image.tag=e2e', 'image.pullPolicy=Never'] });
    const inAgents = objects.filter((o) => o.metadata.namespace === AGENTS_NAMESPACE).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(inAgents).toEqual(['ConfigMap/guarita-operator-ca', 'Role/guarita-sidecar', 'RoleBinding/guarita-approver-0', 'RoleBinding/guarita-auditor-0', 'RoleBinding/guarita-sidecar']);
    expect(find(objects, 'Namespace', AGENTS_NAMESPACE)[0]?.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    const webhook = find(objects, 'Deployment', 'guarita-webhook')[0]!;
    const env = ((webhook.spec as Record<string, any>).template.spec.containers[0].env as { name: string; value?: string }[]);
    expect(env).toContainEqual({ name: 'GUARITA_SIDECAR_IMAGE', value: 'guarita:e2e' });
    expect(env).toContainEqual({ name: 'GUARITA_SIDECAR_IMAGE_PULL_POLICY', value: 'Never' });
    expect(env).toContainEqual({ name: 'GUARITA_SIDECAR_NAMESPACES', value: '[{"create":true,"namespace":"lgpd-orders","serviceAccounts":["support-agent"]}]' });
  });
});
