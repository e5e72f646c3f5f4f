// The objects of the LGPD scenario on a real cluster (kind): the orders database in a namespace of
// its own, and in the opted-in agents' namespace the example AccessPolicy and credentials Secret
// (examples/lgpd-orders), switched to service-account identities (no IdP in a kind cluster), and
// an agent Job that runs the real psql through the injected sidecar.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccessPolicySpec } from '../../crds/types.ts';
import { EXAMPLE_DIR, loadExample, type Manifest } from '../support/examples.ts';

export interface ScenarioNames {
  /** Opted-in namespace of the agent, its policy and its credentials Secret. */
  agents: string;
  /** Namespace of the PostgreSQL server (not opted in). */
  data: string;
}

export const DEFAULT_NAMES: ScenarioNames = { agents: 'lgpd-orders', data: 'orders-data' };
export const AGENT = 'support-agent';
export const AUDIENCE = 'guarita';
export const PURPOSE = 'customer-support';
export const POSTGRES_IMAGE = 'postgres:17-alpine';
/** Statement the agent retries until the DPO approves it (the policy's copyExport rule). */
export const EXPORT_SQL = 'COPY (SELECT id, cpf, email FROM customers ORDER BY id LIMIT 2) TO STDOUT';
export const SELECT_SQL = 'SELECT id, cpf, email FROM customers ORDER BY id LIMIT 3';
export const DELETE_SQL = 'DELETE FROM customers WHERE true';

const credentials = (names: ScenarioNames): Manifest => {
  const secret = loadExample('orders-db-credentials.yaml', { namespace: names.agents })[0];
  if (secret === undefined) throw new Error('examples/lgpd-orders/orders-db-credentials.yaml is empty');
  return secret;
};

/** The database owner's password: the one the example Secret gives the sidecar. */
export function databasePassword(names: ScenarioNames = DEFAULT_NAMES): string {
  return (credentials(names).stringData as { password: string }).password;
}

function databaseObjects(names: ScenarioNames): Manifest[] {
  const ns = names.data;
  const labels = { app: 'orders-db' };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'orders-seed', namespace: ns }, data: { 'seed.sql': readFileSync(join(EXAMPLE_DIR, 'seed.sql'), 'utf8') } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'orders-db-server', namespace: ns }, type: 'Opaque', stringData: { password: databasePassword(names) } },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'orders-db', namespace: ns, labels },
      spec: {
        replicas: 1, selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [{
              name: 'postgres', image: POSTGRES_IMAGE,
              env: [
                { name: 'POSTGRES_USER', value: 'orders_app' }, { name: 'POSTGRES_DB', value: 'orders' },
                { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: 'orders-db-server', key: 'password' } } },
                { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
              ],
              ports: [{ name: 'postgres', containerPort: 5432 }],
              readinessProbe: { exec: { command: ['pg_isready', '-U', 'orders_app', '-d', 'orders', '-h', '127.0.0.1'] }, periodSeconds: 2 },
              volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }, { name: 'seed', mountPath: '/docker-entrypoint-initdb.d' }],
            }],
            volumes: [{ name: 'data', emptyDir: {} }, { name: 'seed', configMap: { name: 'orders-seed' } }],
          },
        },
      },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders-db', namespace: ns }, spec: { selector: labels, ports: [{ name: 'postgres', port: 5432, targetPort: 'postgres' }] } },
  ];
}

/** The example policy, verbatim in its rules and masking, but for this agent's service account. */
export function accessPolicy(names: ScenarioNames = DEFAULT_NAMES): Manifest {
  const policy = loadExample('accesspolicy.yaml', { namespace: names.agents, postgresEndpoint: `orders-db.${names.data}.svc.cluster.local:5432` })[0];
  if (policy === undefined) throw new Error('examples/lgpd-orders/accesspolicy.yaml is empty');
  const spec = structuredClone(policy.spec) as AccessPolicySpec;
  spec.identity = { serviceAccounts: { audiences: [AUDIENCE] } };
  spec.subjects = [{ kind: 'ServiceAccount', name: AGENT, namespace: names.agents }];
  return { ...policy, spec };
}

function agentNamespaceObjects(names: ScenarioNames): Manifest[] {
  const ns = names.agents;
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'guarita.io/injection': 'enabled' } } },
    // The agent container must not act with the pod's service account: no automounted token.
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: AGENT, namespace: ns }, automountServiceAccountToken: false },
    credentials(names),
    accessPolicy(names),
  ];
}

/** Everything but the agent Job, in apply order (namespaces first). */
export function scenarioObjects(names: ScenarioNames = DEFAULT_NAMES): Manifest[] {
  const all = [...databaseObjects(names), ...agentNamespaceObjects(names)];
  return [...all.filter((m) => m.kind === 'Namespace'), ...all.filter((m) => m.kind !== 'Namespace')];
}

/** The agent: psql through the sidecar (PGHOST/PGPORT injected), its token as the password. */
export function agentScript(): string {
  return [
    'set -u',
    'export PGPASSWORD="$(cat /var/run/agent/token)"',
    'q() { psql -X -A -t -v ON_ERROR_STOP=1 -c "$1"; }',
    `echo "== select"; q "${SELECT_SQL}" || exit 11`,
    `echo "== delete"; if q "${DELETE_SQL}" 2>&1; then echo "DELETE WAS ALLOWED"; exit 12; fi`,
    'echo "== count"; q "SELECT count(*) FROM customers" || exit 13',
    'echo "== export"; i=0',
    `until q "${EXPORT_SQL}" >/tmp/export.out 2>/tmp/export.err; do`,
    '  cat /tmp/export.err; i=$((i+1)); [ "$i" -ge 60 ] && exit 14; sleep 5',
    'done',
    'echo "== export rows"; cat /tmp/export.out',
    'echo "== done"',
  ].join('\n');
}

export function agentJob(names: ScenarioNames = DEFAULT_NAMES): Manifest {
  return {
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: AGENT, namespace: names.agents },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: 600,
      template: {
        metadata: { labels: { app: AGENT } },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: AGENT,
          automountServiceAccountToken: false,
          containers: [{
            name: 'agent', image: POSTGRES_IMAGE, command: ['sh', '-c', agentScript()],
            env: [
              { name: 'PGOPTIONS', value: `-c guarita.purpose=${PURPOSE}` },
              { name: 'PGUSER', value: AGENT }, { name: 'PGDATABASE', value: 'orders' },
            ],
            securityContext: { runAsNonRoot: true, runAsUser: 70, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            volumeMounts: [{ name: 'agent-token', mountPath: '/var/run/agent', readOnly: true }],
          }],
          // The agent's identity for the sidecar: a token bound to the policy's audience, useless
          // against the Kubernetes API.
          volumes: [{ name: 'agent-token', projected: { sources: [{ serviceAccountToken: { audience: AUDIENCE, expirationSeconds: 3600, path: 'token' } }] } }],
        },
      },
    },
  };
}

/** Seed rows the agent reads or exports, raw: none of these strings may appear in its output. */
export function rawIdentifiers(ids: readonly number[]): string[] {
  const seed = readFileSync(join(EXAMPLE_DIR, 'seed.sql'), 'utf8');
  return ids.flatMap((id) => {
    const row = new RegExp(`^\\s*\\(${id}, '[^']*', '([^']+)', (?:NULL|'[^']*'), '([^']+)', '([^']+)'`, 'm').exec(seed);
    if (row === null) throw new Error(`customer ${id} not found in seed.sql`);
    return [row[1] ?? '', row[2] ?? '', row[3] ?? ''];
  });
}

export function seededCustomers(): number {
  return readFileSync(join(EXAMPLE_DIR, 'seed.sql'), 'utf8').split('\n').filter((l) => /^\s*\(\d+, '/.test(l)).length;
}
