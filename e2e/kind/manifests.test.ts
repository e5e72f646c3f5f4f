// The kind scenario's objects and checks, without a cluster: the AccessPolicy is the example's
// with service-account identities and is valid; the agent can only act through its audience-bound
// token; the scenario's output checks accept a good run and reject leaks; the chart renders with
// the scenario's values.
import { describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import { validateAccessPolicy } from '../../crds/validators.ts';
import { find, template } from '../../charts/guarita/tests/helm.ts';
import { loadExample } from '../support/examples.ts';
import { accessPolicy, agentJob, agentScript, DEFAULT_NAMES, EXPORT_SQL, rawIdentifiers, scenarioObjects, seededCustomers } from './manifests.ts';
import { checkAgentOutput, section } from './scenario.ts';

// helm and kubectl are real processes; a loaded machine makes them slow.
jest.setTimeout(60_000);

const goodOutput = (rows: { select: string[]; exportRows: string[] }): string => [
  '== select', ...rows.select,
  '== delete', 'ERROR:  the statement is denied by rule deny-unbounded-writes of AccessPolicy orders-db',
  '== count', String(seededCustomers()),
  '== export', 'ERROR:  the command is held for approval: ApprovalRequest orders-db-4f2a awaits exports-need-dpo approvers',
  '== export rows', ...rows.exportRows,
  '== done', '',
].join('\n');

describe('scenario objects', () => {
  it('keeps the example policy\'s rules and masking, for the agent\'s service account', () => {
    const example = loadExample('accesspolicy.yaml', { namespace: 'lgpd-orders' })[0]!;
    const policy = accessPolicy();
    const spec = policy.spec as Record<string, any>;
    expect(spec.rules).toEqual((example.spec as Record<string, unknown>).rules);
    expect(spec.masking).toEqual((example.spec as Record<string, unknown>).masking);
    expect(spec.identity).toEqual({ serviceAccounts: { audiences: ['guarita'] } });
    expect(spec.subjects).toEqual([{ kind: 'ServiceAccount', name: 'support-agent', namespace: 'lgpd-orders' }]);
    expect(spec.target.endpoint).toBe('orders-db.orders-data.svc.cluster.local:5432');
    expect(validateAccessPolicy(policy)).toMatchObject({ ok: true });
  });

  it('opts the agents\' namespace in and keeps the database outside it', () => {
    const namespaces = scenarioObjects().filter((m) => m.kind === 'Namespace');
    expect(namespaces).toEqual([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'orders-data' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lgpd-orders', labels: { 'guarita.io/injection': 'enabled' } } },
    ]);
    expect(scenarioObjects().slice(0, 2).every((m) => m.kind === 'Namespace')).toBe(true);
    const secrets = scenarioObjects().filter((m) => m.kind === 'Secret');
    expect(secrets.map((s) => `${String(s.metadata?.namespace)}/${String(s.metadata?.name)}`).sort()).toEqual(['lgpd-orders/orders-db-credentials', 'orders-data/orders-db-server']);
  });

  it('gives the agent an audience-bound token and no service-account token of its own', () => {
    const pod = ((agentJob().spec as Record<string, any>).template as Record<string, any>).spec as Record<string, any>;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBe('support-agent');
    expect(pod.volumes).toEqual([{ name: 'agent-token', projected: { sources: [{ serviceAccountToken: { audience: 'guarita', expirationSeconds: 3600, path: 'token' } }] } }]);
    expect(pod.containers[0].env).toContainEqual({ name: 'PGOPTIONS', value: '-c guarita.purpose=customer-support' });
    expect(JSON.stringify(pod)).not.toContain('orders-db-credentials');
    expect(agentScript()).toContain(EXPORT_SQL);
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

  it('reject a run where the DELETE went through', () => {
    const output = goodOutput({ select: ['a', 'b', 'c'], exportRows: ['1', '2'] }).replace('== count', 'DELETE WAS ALLOWED\n== count');
    expect(() => checkAgentOutput(output)).toThrow('the unbounded DELETE was denied');
  });
});

describe('the chart with the scenario\'s values', () => {
  it('renders the sidecar Role, the operator CA and the approver binding in lgpd-orders', async () => {
    const objects = await template({ values: [join(import.meta.dirname, 'values.yaml')], set: ['image.repository=guarita', 'image.tag=e2e', 'image.pullPolicy=Never'] });
    const inAgents = objects.filter((o) => o.metadata.namespace === DEFAULT_NAMES.agents).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(inAgents).toEqual(['ConfigMap/guarita-operator-ca', 'Role/guarita-sidecar', 'RoleBinding/guarita-approver-0', 'RoleBinding/guarita-auditor-0', 'RoleBinding/guarita-sidecar']);
    const webhook = find(objects, 'Deployment', 'guarita-webhook')[0]!;
    const env = ((webhook.spec as Record<string, any>).template.spec.containers[0].env as { name: string; value?: string }[]);
    expect(env).toContainEqual({ name: 'GUARITA_SIDECAR_IMAGE', value: 'guarita:e2e' });
    expect(env).toContainEqual({ name: 'GUARITA_SIDECAR_IMAGE_PULL_POLICY', value: 'Never' });
  });
});
