// Round 9 adversarial review of just-in-time approvals, the PostgreSQL findings (docs/security-model.md
// lists the classes closed before). Real sidecar process, real admission webhook and operator, real
// kube-apiserver, real PostgreSQL, approvals given by the harness user dana (group dpo) with
// kubectl, the agent talking through psql (simple query) and node-postgres (extended protocol).
//
// Each class failed on the code it was written against (finding 2 and 3 of the review):
//  - the database is not part of what is approved: under a policy without spec.target.database an
//    approval asked in one database of the server ran the same statement in another;
//  - an extended-protocol statement was approved by its text with `$1`, and the approval ran it with
//    whatever values the agent bound afterwards.
// Fixed by binding the client's database into the approved text, and by refusing (42501, no
// ApprovalRequest) held statements whose parameter values or prepared body an approval cannot bind
// (sidecar/src/postgres/approval-binding.ts; unit tests beside it).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { join } from 'node:path';
import pg from 'pg';
import { psql as adminPsql } from '../../e2e/harness/state.ts';
import { k } from '../../e2e/support/kubectl.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(180_000);

let s: PgScenario;
let support: string;

interface Ar {
  metadata: { name: string };
  spec: { rule: string; command: { text: string } };
  status?: { phase?: string };
}

async function requests(): Promise<Ar[]> {
  return (JSON.parse(await k(['get', 'approvalrequests', '-n', s.namespace, '-o', 'json'])) as { items: Ar[] }).items;
}

async function request(name: string): Promise<Ar | undefined> {
  return (await requests()).find((r) => r.metadata.name === name);
}

async function phase(name: string, want: string): Promise<void> {
  await eventually(`${name} ${want}`, async () => ((await request(name))?.status?.phase === want ? true : undefined), 30_000, 100);
}

async function approveAsDana(name: string, reason: string): Promise<void> {
  await k(['patch', 'approvalrequest', name, '-n', s.namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason } }])], 'dana');
  await phase(name, 'Approved');
}

type Spec = Record<string, unknown> & { rules: Record<string, unknown>[] };

/**
 * Applies the example policy changed by `change`, with a deny rule for a table that exists nowhere
 * (`probe_<tag>`) in front, and waits until the sidecar enforces it (the probe is denied by that rule):
 * the sidecar then decides under exactly this policy.
 */
async function policyInForce(tag: string, change: (spec: Spec) => void = () => undefined): Promise<void> {
  const probe = `probe_${tag}`;
  await s.applyPolicy((raw) => {
    const spec = raw as Spec;
    change(spec);
    spec.rules.unshift({ name: `probe-${tag}`, match: { sql: { tables: [`public.${probe}`] } }, action: 'deny' });
  });
  await eventually(`policy ${tag} in force`, async () => {
    const r = await s.psql(support, ['-c', `SELECT * FROM ${probe}`], { onErrorStop: false, timeoutMs: 20_000 });
    return r.stderr.includes(`probe-${tag}`) ? true : undefined;
  }, 30_000, 250);
}

/** The ApprovalRequest named in a held command's message. */
function heldName(message: string): string | undefined {
  return /ApprovalRequest (\S+?)[\s,:;]/.exec(message)?.[1];
}

/** The names of the requests whose text contains `fragment`. */
async function requestsFor(fragment: string): Promise<string[]> {
  return (await requests()).filter((r) => r.spec.command.text.includes(fragment)).map((r) => r.metadata.name);
}

/** Databases this file creates next to the scenario's: a staging copy, and one whose name differs from it only by case. */
const others = (): string[] => [`${s.database}_b`, `${s.database}_B`];

beforeAll(async () => {
  s = await startPgScenario({ operator: true, webhook: true, approvalWait: '3s' });
  await k(['apply', '-f', '-'], 'admin', JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'approver', namespace: s.namespace }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'approvers', namespace: s.namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: [
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' },
      ] },
    ],
  }));
  support = await s.token('support-agent');
}, 240_000);

afterAll(async () => {
  await s?.stop();
  if (s !== undefined) for (const db of others()) await adminPsql(['-q', '-c', `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`], { user: 'guarita_admin', database: 'postgres' });
}, 60_000);

describe('round 9: the database is part of what is approved', () => {
  async function createSeeded(db: string): Promise<void> {
    const create = await adminPsql(['-q', '-c', `CREATE DATABASE "${db}" OWNER orders_app`], { user: 'guarita_admin', database: 'postgres' });
    expect(create.stderr).toBe('');
    const seed = await adminPsql(['-q', '-f', join(import.meta.dirname, '../../examples/lgpd-orders/seed.sql')], { user: 'guarita_admin', database: db });
    expect(seed.code).toBe(0);
  }

  /** `sql` run in `db` is held on a new request naming `db`, and `approved` (given in another database) stays unused. */
  async function expectHeldAnew(db: string, sql: string, approved: string): Promise<void> {
    const run = await s.psql(support, ['-d', db, '-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    const seen = `run in ${db}: exit ${run.code}, stdout ${JSON.stringify(run.stdout)}, stderr ${JSON.stringify(run.stderr.slice(0, 300))}; ${approved}: phase ${(await request(approved))?.status?.phase}`;
    // Another database is another command: held anew on its own request, never this approval.
    expect(seen).toMatch(/: exit [1-9]/);
    expect(run.stdout).toBe('');
    const again = heldName(run.stderr);
    expect(again).toBeDefined();
    expect(again).not.toBe(approved);
    expect((await request(again ?? ''))?.spec.command.text).toBe(`-- database: "${db}"\n${sql}`);
    expect((await request(approved))?.status?.phase).toBe('Approved');
  }

  it('held and approved in one database of the target, the export is held anew in another (policy without spec.target.database), and runs once where it was approved', async () => {
    // Databases on the same server that the target's role can reach: a staging copy, and one whose
    // name differs only by case (startup names are exact: "orders_x_b" and "orders_x_B" are two).
    const [other = '', otherCase = ''] = others();
    for (const db of others()) await createSeeded(db);
    // docs/postgres.md: "Without spec.target.database the client's choice is used."
    await policyInForce('d1', (spec) => { delete (spec.target as Record<string, unknown>).database; });
    const sql = 'COPY (SELECT id, status FROM orders WHERE id <= 5) TO STDOUT';
    const inOther = await s.psql(support, ['-d', other, '-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    const name = heldName(inOther.stderr);
    if (name === undefined) throw new Error(`not held: ${inOther.stderr}`);
    // What the approver reads names the database the command was held in, on its first line.
    expect((await request(name))?.spec.command.text).toBe(`-- database: "${other}"\n${sql}`);
    await approveAsDana(name, 'round 9 d1: staging copy');

    for (const db of [s.database, otherCase]) await expectHeldAnew(db, sql, name);
    // Control: in the database it was approved for, it runs, once.
    const approved = await s.psql(support, ['-d', other, '-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    expect({ code: approved.code, rows: approved.stdout.trim().split('\n').length }).toEqual({ code: 0, rows: 5 });
    await phase(name, 'Consumed');
  });
});

describe('round 9: extended protocol, an approval of a statement with parameters', () => {
  async function client(): Promise<pg.Client> {
    const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: support, database: s.database, options: PURPOSE_OPTIONS });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  }

  /** Runs `query` on a fresh connection: the rows, or the error's code and message. */
  async function attempt(query: pg.QueryConfig | ((c: pg.Client) => Promise<pg.QueryResult>)): Promise<{ rows?: number; code?: string; error?: string }> {
    const c = await client();
    try {
      const res = typeof query === 'function' ? await query(c) : await c.query(query);
      return { rows: res.rows.length };
    } catch (err) {
      const e = err as { code?: string; message: string };
      return { code: e.code, error: e.message };
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  const unapprovable = { rows: undefined, code: '42501', error: expect.stringMatching(/requires approval, but the statement has parameters .*write the values into the statement text/) };

  it('a held statement with parameters is refused as unapprovable (no ApprovalRequest), whatever the values; with the values inlined it is approved and runs once', async () => {
    await policyInForce('b1');
    // md5(cpf) recovers the identifier around masking: spec.sensitiveColumns holds it for the DPO.
    const text = 'SELECT id, md5(cpf) AS h FROM customers WHERE id = ANY($1::int[]) ORDER BY id';
    expect(await attempt({ text, values: [[1]] })).toEqual(unapprovable);
    expect(await attempt({ text, values: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]] })).toEqual(unapprovable);
    // A named prepared statement, run twice on one connection with other values.
    expect(await attempt(async (c) => {
      await c.query({ name: 'h', text, values: [[1]] }).catch(() => undefined);
      return c.query({ name: 'h', text, values: [[2]] });
    })).toEqual(unapprovable);
    // The same text sent as a simple query (psql): the server would refuse $1, the sidecar refuses first.
    const simple = await s.psql(support, ['-c', text], { onErrorStop: false, timeoutMs: 30_000 });
    expect(simple.stderr).toMatch(/requires approval, but the statement has parameters/);
    expect(await requestsFor('md5(cpf)')).toEqual([]);

    // The fix the refusal names: the values in the text, which the approver reads and which runs.
    const inlined = "SELECT id, md5(cpf) AS h FROM customers WHERE id = ANY('{1}'::int[]) ORDER BY id";
    const held = await s.psql(support, ['-A', '-t', '-c', inlined], { onErrorStop: false, timeoutMs: 30_000 });
    const name = heldName(held.stderr);
    if (name === undefined) throw new Error(`not held: ${held.stderr}`);
    expect((await request(name))?.spec.command.text).toBe(inlined);
    await approveAsDana(name, 'round 9 b1: customer 1 only (ticket 4711)');
    const run = await s.psql(support, ['-A', '-t', '-c', inlined], { onErrorStop: false, timeoutMs: 30_000 });
    expect({ code: run.code, rows: run.stdout.trim().split('\n').length }).toEqual({ code: 0, rows: 1 });
    await phase(name, 'Consumed');
  });

  it('SQL PREPARE with parameters and EXECUTE are refused as unapprovable where a rule would hold them; PREPARE with its values inlined is held as that text', async () => {
    // A policy that holds PREPARE/EXECUTE (trait prepare) for the DPO instead of denying them.
    await policyInForce('e1', (spec) => {
      const hidden = spec.rules.find((r) => r.name === 'deny-hidden-execution') as { match: { sql: { traits: string[] } } };
      hidden.match.sql.traits = hidden.match.sql.traits.filter((t) => t !== 'prepare');
      spec.rules.splice(spec.rules.findIndex((r) => r.name === 'allow-the-rest'), 0, { name: 'prepared-need-dpo', match: { sql: { traits: ['prepare'] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' } });
    });
    const prepare = await s.psql(support, ['-c', 'PREPARE p1(int) AS SELECT id, status FROM orders WHERE id = $1'], { onErrorStop: false, timeoutMs: 30_000 });
    expect(prepare.stderr).toMatch(/requires approval, but the statement has parameters/);
    for (const sql of ['EXECUTE p1(1)', 'EXPLAIN EXECUTE p1(1)']) {
      const execute = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
      expect(execute.stderr).toMatch(/requires approval, but SQL EXECUTE runs a statement prepared earlier/);
    }
    expect(await requestsFor('p1')).toEqual([]);
    const inlined = await s.psql(support, ['-c', 'PREPARE p2 AS SELECT id, status FROM orders WHERE id = 1'], { onErrorStop: false, timeoutMs: 30_000 });
    const name = heldName(inlined.stderr);
    expect(name).toBeDefined();
    expect((await request(name ?? ''))?.spec.command.text).toBe('PREPARE p2 AS SELECT id, status FROM orders WHERE id = 1');
  });
});
