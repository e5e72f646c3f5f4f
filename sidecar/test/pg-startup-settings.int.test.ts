// What a client puts in its StartupMessage is judged and recorded like the statements it stands
// for (issue 18): a setting is the same change as its SET, so the example policy's
// deny-setting-changes rule refuses `-c search_path=...` at startup as it refuses the SET; and the
// client's own application_name reaches the signed session record only masked.
// The REAL sidecar and operator in front of the harness PostgreSQL, node-pg as the agent.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import { grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';
import { fetchExport } from './support.ts';

jest.setTimeout(120_000);

// Customer 4 of examples/lgpd-orders/seed.sql.
const CPF = '657.975.432-06';

let s: PgScenario;
let token: string;

beforeAll(async () => {
  s = await startPgScenario({ operator: true });
  await grantSessionReaders(s.namespace, { kind: 'User', name: 'audrey' });
  token = await s.token('support-agent');
}, 240_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

async function connect(config: Partial<pg.ClientConfig>): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS, ...config });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function refusal(config: Partial<pg.ClientConfig>): Promise<{ code?: string; message: string }> {
  const err = await connect(config).then((c) => { void c.end(); return undefined; }, (e: unknown) => e as { code?: string; message: string });
  if (err === undefined) throw new Error(`the sidecar accepted ${JSON.stringify(config)}`);
  return err;
}

describe('startup parameters are decided as the SET statements they are', () => {
  it.each([
    ['search_path in options', { options: `${PURPOSE_OPTIONS} -c search_path=public` }],
    ['search_path with --name=value', { options: `${PURPOSE_OPTIONS} --search-path=public` }],
    ['row_security', { options: `${PURPOSE_OPTIONS} -c row_security=off` }],
    ['default_transaction_read_only', { options: `${PURPOSE_OPTIONS} -c default_transaction_read_only=off` }],
  ])('%s is refused by deny-setting-changes, naming the parameter and the rule', async (_name, config) => {
    const err = await refusal(config);
    expect(err.code).toBe('42501');
    expect(err.message).toMatch(/startup parameter/);
    expect(err.message).toMatch(/deny-setting-changes/);
  });

  it('a setting the policy allows still reaches the server, and the session works', async () => {
    const c = await connect({ options: `${PURPOSE_OPTIONS} -c extra_float_digits=2` });
    try {
      const r = await c.query('SELECT current_setting($1) AS v', ['extra_float_digits']);
      expect(r.rows[0]).toEqual({ v: '2' });
    } finally {
      await c.end();
    }
  });
});

describe('the client\'s application_name', () => {
  it('reaches the signed session.start record masked', async () => {
    const c = await connect({ application_name: `agent ${CPF}` });
    await c.query('SELECT 1');
    await c.end();
    const operator = s.operator;
    if (operator === undefined) throw new Error('the operator is not running');
    const start = await eventually('the session.start record with the application name', async () => {
      const exported = await fetchExport(operator.url, s.namespace);
      return exported.records.find((r) => r.type === 'session.start' && (r.reason ?? '').includes('agent '));
    }, 60_000, 300);
    expect(JSON.stringify(start)).not.toContain(CPF);
    expect(JSON.stringify(start)).not.toContain(CPF.replace(/\D/g, ''));
  });
});
