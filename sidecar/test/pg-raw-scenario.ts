// For tests only: the PostgreSQL attack suites' shared set-up. The real sidecar process in front of
// the harness PostgreSQL (startPgScenario) with the example policy, agents speaking raw protocol
// (RawClient), the sidecar's own spool read back, and the policy switched between the example and
// the example with every statement on customers denied (waiting until the sidecar applies it).
import { afterAll, beforeAll } from '@jest/globals';
import { serialize } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { RawClient } from './pg-raw-client.ts';
import { adminSql, PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

type Row = BackendMessage & { fields: Array<string | null> };
export type PgError = BackendMessage & { code?: string; message?: string };

/** The DataRows a raw client received, as text cells. */
export function rows(c: RawClient): Array<Array<string | null>> {
  return c.messages.filter((m) => m.name === 'dataRow').map((m) => (m as Row).fields);
}

/** The ErrorResponses a raw client received. */
export function errors(c: RawClient): PgError[] {
  return c.messages.filter((m): m is PgError => m.name === 'error');
}

/** Sends `parts` in one write and waits for `n` more ReadyForQuery. */
export async function batch(c: RawClient, parts: Buffer[], n: number, ms = 15_000): Promise<void> {
  const before = c.messages.filter((m) => m.name === 'readyForQuery').length;
  c.send(Buffer.concat(parts));
  await c.readyCount(before + n, ms);
}

export interface SpoolRecord { type?: string; command?: string; decision?: string; sessionId?: string; result?: { rows?: number; sample?: string; error?: string; outcomeUnknown?: boolean } }

export interface RawPgOptions {
  /** SQL PREPARE allowed (the example denies the `prepare` trait): the DEALLOCATE cases need it. */
  allowPrepare?: boolean;
  /** COPY ... FROM STDIN without the DPO's approval: the COPY-in-progress cases need it. */
  allowImports?: boolean;
}

export interface RawPgScenario {
  readonly scenario: PgScenario;
  /** A logged-in raw agent (closed by stop()). */
  raw(): Promise<RawClient>;
  /** The example policy, or (`deny`) it with every statement on customers denied first; resolves once the sidecar applies it. */
  customersDenied(deny: boolean): Promise<void>;
  /** The command records of the sidecar's spool, as it wrote them. */
  spoolRecords(): SpoolRecord[];
  /** The first command record of the statement `sql`, once written. */
  commandRecord(sql: string): SpoolRecord | undefined;
  /** `sql` as the database's administrator, straight to PostgreSQL (adminSql). */
  admin(sql: string): Promise<string>;
  stop(): Promise<void>;
}

function policyChange(o: RawPgOptions): (spec: Record<string, unknown>) => void {
  return (spec) => {
    if (o.allowImports === true) spec.rules = (spec.rules as Array<{ name: string }>).filter((r) => r.name !== 'imports-need-dpo');
    if (o.allowPrepare !== true) return;
    for (const r of spec.rules as Array<{ name: string; match: { sql: { traits?: string[] } } }>) {
      if (r.name === 'deny-hidden-execution') r.match.sql.traits = (r.match.sql.traits ?? []).filter((t) => t !== 'prepare');
    }
  };
}

/** A CPF stored without its leading zero and punctuation (018.780.175-43), caught by the `cpf` column name only (customer 90). */
export const UNPUNCTUATED_CPF = '1878017543';

async function seedUnpunctuatedCpf(database: string): Promise<void> {
  const pgs = requirePostgres();
  const admin = new pg.Client({ host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database });
  await admin.connect();
  try {
    await admin.query(`INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES (90, 'Rafael Costa', '${UNPUNCTUATED_CPF}', 'r@x', '0', '1993-09-17') ON CONFLICT (id) DO NOTHING`);
  } finally {
    await admin.end();
  }
}

function spoolRecordsOf(namespace: string): SpoolRecord[] {
  const segments = readdirSync(tmpdir()).filter((d) => d.startsWith(`guarita-sidecar-${namespace}-`)).flatMap((d) => {
    const spool = join(tmpdir(), d, 'spool');
    return readdirSync(spool).filter((n) => n.endsWith('.jsonl')).sort().map((f) => join(spool, f));
  });
  const out: SpoolRecord[] = [];
  for (const file of segments) {
    // Segments are presized: the unwritten tail is padding, not records.
    for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trimStart().startsWith('{')) out.push(JSON.parse(line) as SpoolRecord);
  }
  return out.filter((r) => r.type === 'command');
}

export async function startRawPgScenario(o: RawPgOptions = {}): Promise<RawPgScenario> {
  const scenario = await startPgScenario({ logLevel: 'warn', spec: policyChange(o) });
  const token = await scenario.token('support-agent');
  await seedUnpunctuatedCpf(scenario.database);
  const clients: RawClient[] = [];
  const raw = async (): Promise<RawClient> => {
    const c = new RawClient(scenario.port);
    clients.push(c);
    await c.login({ token, database: scenario.database, options: PURPOSE_OPTIONS });
    return c;
  };
  const customersDenied = async (deny: boolean): Promise<void> => {
    await scenario.applyPolicy((spec) => {
      if (deny) (spec.rules as unknown[]).unshift({ name: 'deny-customers', match: { sql: { tables: ['public.customers'] } }, action: 'deny' });
    });
    await eventually(`the sidecar ${deny ? 'denies' : 'allows'} statements on customers`, async () => {
      const probe = await raw();
      await batch(probe, [serialize.query('SELECT nome FROM customers WHERE id = 2')], 1);
      const denied = errors(probe).some((e) => e.code === '42501');
      probe.close();
      return denied === deny ? true : undefined;
    }, 30_000, 500);
  };
  return {
    scenario, raw, customersDenied,
    spoolRecords: () => spoolRecordsOf(scenario.namespace),
    commandRecord: (sql) => spoolRecordsOf(scenario.namespace).find((r) => r.command === sql),
    admin: (sql) => adminSql(scenario.database, sql),
    stop: async () => {
      for (const c of clients) c.close();
      await scenario.stop();
    },
  };
}

/** Starts the scenario (`o`) in a beforeAll of the calling block, handing it to `set`, and stops it in an afterAll. */
export function rawPgScenarioHooks(set: (t: RawPgScenario) => void, o: RawPgOptions = {}): void {
  let started: RawPgScenario | undefined;
  beforeAll(async () => {
    started = await startRawPgScenario(o);
    set(started);
  }, 180_000);
  afterAll(async () => {
    await started?.stop();
  }, 60_000);
}
