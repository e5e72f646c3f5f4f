// Issue 18 items 1, 2 and 18 through the real path: the REAL sidecar process in front of the
// harness PostgreSQL (sidecar/test/pg-scenario.ts, the example policy), clients node-pg and
// psql; and the classifier's reading of SQL text checked against the real server's.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { spawnCli } from '../../cli/test/spawn-cli.ts';
import { kubeconfigPath, requireKube, requirePostgres } from '../../e2e/harness/state.ts';
import { grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { LEXING_CORPUS } from '../../core/policy/corpus/lexing.sql-corpus.ts';
import { PINNED_SERVER_SETTINGS } from '../../core/policy/pg-settings.ts';
import { SETTINGS_VIEWS } from '../../core/policy/sql-catalog.ts';
import { classifySql, initPolicyEngine, SqlParseError } from '../../core/policy/index.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';
import { fetchExport, verifyExportedChain } from './support.ts';

jest.setTimeout(60_000);

const ISSUE_TEXT = "SELECT 'a\\' AS x, ' ; DELETE FROM orders; --'";

let s: PgScenario;
let token: string;
const open: pg.Client[] = [];

beforeAll(async () => {
  await initPolicyEngine();
  // No operator: a held statement waits 1s for a decision nobody makes, then is refused.
  s = await startPgScenario({ approvalWait: '1s' });
  token = await s.token('support-agent');
}, 180_000);

afterAll(async () => {
  for (const c of open) await c.end().catch(() => undefined);
  await s?.stop();
}, 60_000);

async function connect(config: pg.ClientConfig): Promise<pg.Client> {
  const c = new pg.Client(config);
  c.on('error', () => undefined);
  open.push(c);
  await c.connect();
  return c;
}

/** Straight to the harness PostgreSQL as orders_app, with startup options. */
function direct(options: string): Promise<pg.Client> {
  const p = requirePostgres();
  return connect({ host: p.host, port: p.port, user: 'orders_app', password: p.passwords.orders_app, database: s.database, options });
}

/** Through the sidecar, as the support agent. */
function agent(): Promise<pg.Client> {
  return connect({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
}

/** How many statements the server ran for a simple query (node-pg returns one result per statement). */
async function serverStatements(c: pg.Client, sql: string): Promise<number> {
  const res = (await c.query(sql)) as unknown as pg.QueryResult | pg.QueryResult[];
  return Array.isArray(res) ? res.length : 1;
}

async function failure(c: pg.Client, sql: string): Promise<{ code?: string; message: string }> {
  try {
    await c.query(sql);
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error(`expected ${sql} to be refused`);
}

/** How the classifier refuses `sql` (undefined when it does not). */
function refusal(sql: string): { reason: string; mentions: boolean } | undefined {
  try {
    classifySql(sql);
  } catch (err) {
    if (err instanceof SqlParseError) return { reason: err.reason, mentions: err.message.includes('standard_conforming_strings') };
    throw err;
  }
  return undefined;
}

async function orderCount(): Promise<number> {
  const c = await direct('');
  const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM orders');
  await c.end();
  return Number(r.rows[0]?.n);
}

describe('the classifier reads SQL text as the server does under the pinned settings', () => {
  const pinned = Object.entries(PINNED_SERVER_SETTINGS).map(([k, v]) => `-c ${k}=${v}`).join(' ');

  it('the server runs these settings when the session starts with them', async () => {
    const c = await direct(pinned);
    for (const [name, value] of Object.entries(PINNED_SERVER_SETTINGS)) {
      const r = await c.query<Record<string, string>>(`SHOW ${name}`);
      expect(r.rows[0]?.[name]).toBe(value);
    }
  });

  it.each(LEXING_CORPUS.map((e) => [e.note, e] as const))('same statement count: %s', async (_note, entry) => {
    const c = await direct(pinned);
    // A temporary orders table shadows the real one: had a hidden DELETE run, it would show here.
    await c.query('CREATE TEMP TABLE orders (id int); INSERT INTO orders VALUES (1)');
    expect(await serverStatements(c, entry.sql)).toBe(entry.statements);
    expect(classifySql(entry.sql)).toHaveLength(entry.statements);
    expect((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0]).toEqual({ n: 1 });
    await c.end();
  });

  it('and the same text is two statements to a server with standard_conforming_strings off (why it is pinned)', async () => {
    const c = await direct('-c standard_conforming_strings=off -c escape_string_warning=off');
    await c.query('CREATE TEMP TABLE orders (id int); INSERT INTO orders VALUES (1)');
    expect(await serverStatements(c, ISSUE_TEXT)).toBe(2);
    expect((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0]).toEqual({ n: 0 });
    await c.end();
  });

  // Spellings of a pinned setting's name: the server must read each as the name, and the
  // classifier must refuse set_config() with it (it decodes the literal as the server does).
  it.each([
    "'standard_conforming_strings'",
    "'STANDARD_CONFORMING_STRINGS'",
    "E'standard\\_conforming\\_strings'",
    "E'standard\\x5Fconforming\\137strings'",
    "U&'standard\\005Fconforming\\+00005Fstrings'",
    "U&'standard!005Fconforming!005Fstrings' UESCAPE '!'",
    '$$standard_conforming_strings$$',
    '$n$standard_conforming_strings$n$',
    "'standard_'\n'conforming_strings'",
  ])('the server reads %s as the pinned name, and set_config() with it is refused', async (literal) => {
    const c = await direct(pinned);
    const r = await c.query<{ v: string }>(`SELECT ${literal} AS v`);
    expect(r.rows[0]?.v.toLowerCase()).toBe('standard_conforming_strings');
    expect(refusal(`SELECT set_config(${literal}, 'off', false)`)).toEqual({ reason: 'refused', mentions: true });
    await c.end();
  });

  it('pg_settings is the only catalog view whose rewrite rules turn writes into function calls', async () => {
    const c = await direct('');
    const r = await c.query<{ tablename: string; definition: string }>(
      "SELECT tablename, definition FROM pg_rules WHERE schemaname IN ('pg_catalog', 'information_schema') ORDER BY rulename",
    );
    expect(new Set(r.rows.map((row) => row.tablename))).toEqual(SETTINGS_VIEWS);
    expect(r.rows.some((row) => row.definition.includes('set_config('))).toBe(true);
    await c.end();
  });
});

describe('through the sidecar', () => {
  it('the issue-18 text is one harmless SELECT: it deletes nothing', async () => {
    const before = await orderCount();
    const c = await agent();
    const r = await c.query<{ x: string }>(ISSUE_TEXT);
    expect(r.rows).toEqual([{ x: 'a\\', '?column?': ' ; DELETE FROM orders; --' }]);
    expect(await orderCount()).toBe(before);
  });

  it.each([
    'SET standard_conforming_strings = off',
    "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
    "SELECT set_config('standard_conforming_strings', 'off', false)",
    "SELECT * FROM orders WHERE id = 1 AND set_config('standard_conforming_strings', 'off', false) IS NOT NULL",
    "WITH s AS (SELECT set_config('standard_conforming_strings', 'off', false)) SELECT * FROM s",
    `SET standard_conforming_strings = off; ${ISSUE_TEXT}`,
    'RESET ALL',
    'DISCARD ALL',
    'RESET standard_conforming_strings',
    "SET client_encoding = 'SJIS'",
    'SET backslash_quote = on',
    // Review: set_config with named arguments (any order), VARIADIC, in FROM, and a set-up name.
    "SELECT set_config(new_value => 'off', setting_name => 'standard_conforming_strings', is_local => false)",
    "SELECT set_config(VARIADIC ARRAY['standard_conforming_strings', 'off', 'false'])",
    "SELECT * FROM pg_catalog.set_config('standard_conforming_strings', 'off', false)",
    "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name LIKE 'standard%'",
    "UPDATE pg_settings SET setting = 'off' FROM (VALUES ('standard_conforming_strings')) v(n) WHERE name = v.n",
  ])('refuses %s, and the hidden DELETE still deletes nothing', async (sql) => {
    const before = await orderCount();
    const c = await agent();
    const err = await failure(c, sql);
    expect(err.code).toBe('42501');
    expect(err.message).toContain('refused whatever the policy says');
    expect((await c.query<{ standard_conforming_strings: string }>('SHOW standard_conforming_strings')).rows[0]?.standard_conforming_strings).toBe('on');
    await c.query(ISSUE_TEXT);
    expect(await orderCount()).toBe(before);
  });

  it('UPDATE pg_settings ... WHERE name = \'role\' is the role change it is: denied by deny-role-changes', async () => {
    const c = await agent();
    const err = await failure(c, "UPDATE pg_settings SET setting = 'postgres' WHERE name = 'role'");
    expect(err.code).toBe('42501');
    expect(err.message).toContain('deny-role-changes');
    expect((await c.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u).toBe('orders_app');
  });

  it.each([
    ['CALL refresh_order_totals(7)', 'deny-hidden-execution'],
    ['LISTEN orders_changed', 'deny-notifications'],
    ["NOTIFY orders_changed, 'x'", 'deny-notifications'],
    ["SELECT pg_notify('orders_changed', status) FROM orders WHERE id = 1", 'deny-notifications'],
    ['SELECT pg_catalog.pg_terminate_backend(pg_backend_pid())', 'deny-server-control'],
    ['SELECT "pg_cancel_backend"(pg_backend_pid())', 'deny-server-control'],
    ['SELECT U&"pg\\005Freload\\005Fconf"()', 'deny-server-control'],
    ['SELECT pg_advisory_lock(42)', 'deny-server-control'],
    ['BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; COMMIT', 'deny-server-control'],
    ['VACUUM orders', 'deny-server-control'],
    ['ANALYZE orders', 'deny-server-control'],
    ['CLUSTER orders USING orders_pkey', 'deny-server-control'],
    ['REINDEX TABLE orders', 'deny-server-control'],
    ['CHECKPOINT', 'deny-server-control'],
    // Review: index maintenance callable from a SELECT.
    ["SELECT brin_summarize_new_values('orders_pkey'::regclass)", 'deny-server-control'],
    ["SELECT pg_catalog.gin_clean_pending_list('orders_pkey'::regclass)", 'deny-server-control'],
    ['SET search_path = pg_temp, public', 'deny-setting-changes'],
    ["UPDATE pg_settings SET setting = 'replica' WHERE name = 'session_replication_role'", 'deny-setting-changes'],
  ])('%s is denied by %s', async (sql, rule) => {
    const c = await agent();
    const err = await failure(c, sql);
    expect(err.code).toBe('42501');
    expect(err.message).toContain(rule);
    // The session stays usable, and nothing of the statement ran.
    await c.query('ROLLBACK');
    expect((await c.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('COPY ... FROM STDIN is held for the DPO (imports-need-dpo): nothing is loaded without approval', async () => {
    const before = await orderCount();
    const r = await s.psql(token, ['-c', 'COPY orders (customer_id, status, total_cents) FROM STDIN WITH (FORMAT csv)'], { input: '1,imported,100\n', onErrorStop: false });
    expect(r.stderr).toMatch(/NOTICE: .*ApprovalRequest .*imports-need-dpo/);
    expect(r.stderr).toMatch(/ERROR: .*ApprovalRequest/);
    expect(await orderCount()).toBe(before);
  });
});

// One SQL text must not stall the sidecar: past the policy engine's bounds (text length, the
// sensitive-column guard's work budget, query nesting) a statement is denied, naming the bound and
// how to split the work, through every entry point (simple query, extended protocol Parse, COPY,
// psql), the session goes on, and the denial is recorded. The same real sidecar, with an operator
// so the records can be read back.
describe('statements past the policy engine\'s bounds', () => {
  let bounded: PgScenario;
  let agentToken: string;

  beforeAll(async () => {
    bounded = await startPgScenario({ operator: true });
    await grantSessionReaders(bounded.namespace, { kind: 'User', name: 'audrey' });
    agentToken = await bounded.token('support-agent');
  }, 240_000);

  afterAll(async () => {
    await bounded?.stop();
  }, 60_000);

  const nested = `SELECT ${'(SELECT '.repeat(150)}1${')'.repeat(150)} AS n`;
  // Every CTE reads all the earlier ones' columns: past the guard's work budget.
  const budget = `WITH ${Array.from({ length: 3000 }, (_, i) => `c${i} AS (SELECT * FROM ${i === 0 ? 'orders' : `c${i - 1}, orders o`})`).join(', ')} SELECT 1 AS n FROM c2999`;
  const long = `SELECT 1 AS n FROM orders WHERE id IN (${Array.from({ length: 60_000 }, (_, i) => String(i)).join(',')})`;
  const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

  async function boundedAgent(): Promise<pg.Client> {
    return connect({ host: '127.0.0.1', port: bounded.port, user: 'agent', password: agentToken, database: bounded.database, options: PURPOSE_OPTIONS });
  }

  it.each([
    ['queries nested 150 deep', nested, /nested more than 100 levels deep.*split it into several statements/],
    ['a text past the guard\'s work budget', budget, /needs more than 1,000,000 steps.*split it into smaller statements/],
    ['a text longer than 256 KiB', long, /at most 262144.*send statements one at a time/],
  ])('%s: denied as simple query, Parse and COPY, naming the bound; the session goes on; each denial is recorded', async (_name, sql, reason) => {
    const c = await boundedAgent();
    const copy = `COPY (${sql}) TO STDOUT`;
    // A named statement goes as Parse/Bind/Execute (the extended protocol).
    for (const attempt of [() => c.query(sql), () => c.query({ name: 'bounded', text: sql }), () => c.query(copy)]) {
      const err = await attempt().then(() => undefined, (e: unknown) => e as { code?: string; message: string });
      expect(err?.code).toBe('42501');
      expect(err?.message).toMatch(/cannot (be )?check/);
      expect(err?.message).toMatch(reason);
      expect((await c.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    }
    const operator = bounded.operator;
    if (operator === undefined) throw new Error('the operator is not running');
    const denials = await eventually('the three denials in the signed records', async () => {
      const found = (await fetchExport(operator.url, bounded.namespace)).records.filter((r) => r.type === 'command' && (r.commandSha256 === sha256(sql) || r.commandSha256 === sha256(copy)));
      return found.length >= 3 ? found : undefined;
    }, 60_000, 300);
    for (const r of denials) {
      expect(r.decision).toBe('deny');
      expect(r.reason).toMatch(reason);
    }
  });

  it('psql shows the agent the bound and how to split the work', async () => {
    const r = await bounded.psql(agentToken, ['-c', nested], { onErrorStop: false });
    expect(r.stderr).toMatch(/ERROR: .*nested more than 100 levels deep.*split it into several statements/);
  });

  it('a multi-MiB query (simple and Parse) is denied unread, the session goes on, and its record is bounded: the first 64 KiB of the masked text, marked truncated, SHA-256 of the whole, shipped and verifying', async () => {
    const c = await boundedAgent();
    const cpf = '529.982.247-25';
    const marker = `huge-${bounded.id}`;
    const huge = `SELECT id FROM customers /* ${marker} */ WHERE cpf IN (${Array.from({ length: 250_000 }, () => `'${cpf}'`).join(', ')})`;
    expect(huge.length).toBeGreaterThan(4 * 1024 * 1024);
    for (const attempt of [() => c.query(huge), () => c.query({ name: 'huge', text: huge })]) {
      const err = await attempt().then(() => undefined, (e: unknown) => e as { code?: string; message: string });
      expect(err?.code).toBe('42501');
      expect(err?.message).toMatch(/at most 262144.*send statements one at a time/);
      expect((await c.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    }
    const operator = bounded.operator;
    if (operator === undefined) throw new Error('the operator is not running');
    const found = await eventually('the two denials in the signed records', async () => {
      const exported = await fetchExport(operator.url, bounded.namespace);
      const records = exported.records.filter((r) => r.type === 'command' && r.commandSha256 === sha256(huge));
      return records.length >= 2 ? { exported, records } : undefined;
    }, 60_000, 300);
    for (const r of found.records) {
      expect(r.decision).toBe('deny');
      expect(r.commandTruncated).toBe(true);
      const command = r.command ?? '';
      expect(command.startsWith(`SELECT id FROM customers /* ${marker} */ WHERE cpf IN (`)).toBe(true);
      expect(Buffer.byteLength(command)).toBeLessThanOrEqual(64 * 1024);
      expect(Buffer.byteLength(command)).toBeGreaterThan(60 * 1024);
      // Masked up to the cut: no CPF, nor a piece of one, in the record.
      expect(command).not.toMatch(/529|982|247/);
      expect(command).toMatch(/\*\*\*\.\*\*\*\.\*\*\*-\*\*|\*\*\*\.\*\*\*\.\*\*\*-25/);
    }
    // The chain the operator exports, truncated records included, verifies with the sidecar's key
    // (read again until the export holds the checkpoint covering the chain's last record shipped).
    const chainId = found.records[0]!.chainId;
    const verified = await eventually('the exported chain verifying', async () => {
      const { verdict, chain } = verifyExportedChain(await fetchExport(operator.url, bounded.namespace), chainId);
      return verdict.ok && chain.some((r) => r.commandTruncated === true) ? { verdict, chain } : undefined;
    }, 30_000, 300);
    expect(verified.verdict).toMatchObject({ ok: true, count: verified.chain.length });
    // The auditor's tools: `guarita export` and `guarita verify --file` (real processes) accept them,
    // and `guarita replay` marks the command truncated with the SHA-256 of the whole.
    const work = mkdtempSync(join(tmpdir(), `guarita-huge-${bounded.id}-`));
    try {
      const env = { PATH: process.env.PATH ?? '', HOME: work, KUBECONFIG: kubeconfigPath('audrey'), GUARITA_OPERATOR_URL: operator.url, GUARITA_OPERATOR_CA: requireKube().caFile };
      const file = join(work, 'audit.jsonl');
      expect(await spawnCli(['export', '-n', bounded.namespace, '-o', file], env)).toMatchObject({ code: 0 });
      const v = await spawnCli(['verify', '--file', file], env);
      expect(v.stderr).toBe('');
      expect(v.code).toBe(0);
      const replay = await spawnCli(['replay', found.records[0]!.sessionId, '-n', bounded.namespace], env);
      expect(replay.code).toBe(0);
      expect(replay.stdout).toContain(`… (command truncated: the record keeps the first 64 KiB of its masked text; SHA-256 of the whole command ${sha256(huge)})`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('a long form the guard used to give up on (3,000 UNION ALL branches) is checked in full and runs', async () => {
    const c = await boundedAgent();
    const text = Array.from({ length: 3000 }, (_, i) => `SELECT ${i} AS n, id FROM orders WHERE id = 1`).join(' UNION ALL ');
    const r = await c.query<{ n: number }>(text);
    expect(r.rows.length).toBe(3000);
  });
});
