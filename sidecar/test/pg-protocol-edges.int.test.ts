// Issue 19, item 8: the protocol edges node-postgres's own suite found, each run with the same real
// client against the harness PostgreSQL directly and through the real sidecar process, and the
// two behaviours compared (they must be identical):
//   - the server ends a session with its FATAL (pg_terminate_backend's 57P01) while a prepared
//     statement runs, or a simple query, under durability Synced and Written: the client gets the
//     server's error intact and nothing of the sidecar's after it (node-pg: the query fails with
//     57P01, then exactly one 'error' event, "Connection terminated unexpectedly"; psql: the same
//     output and exit code);
//   - a client that sends Terminate (or any typed message, or a packet of invalid length) before
//     its StartupMessage is closed without a word, as PostgreSQL does; a Terminate where the
//     password is due gets PostgreSQL's FATAL 08P01.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect } from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import { request } from 'undici';
import { runCommand } from '../../e2e/harness/exec.ts';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { getObject } from '../../e2e/support/kube-apply.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

let s: PgScenario;
let token: string;
let admin: pg.Client;

beforeAll(async () => {
  s = await startPgScenario({ logLevel: 'warn' });
  token = await s.token('support-agent');
  const pgs = requirePostgres();
  admin = new pg.Client({ host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database: s.database });
  await admin.connect();
}, 180_000);

afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await s?.stop();
}, 60_000);

type Side = 'direct' | 'sidecar';

function clientConfig(side: Side): pg.ClientConfig {
  const pgs = requirePostgres();
  return side === 'direct'
    ? { host: pgs.host, port: pgs.port, user: 'orders_app', password: pgs.passwords.orders_app, database: s.database }
    : { host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS };
}

function port(side: Side): { host: string; port: number } {
  const pgs = requirePostgres();
  return side === 'direct' ? { host: pgs.host, port: pgs.port } : { host: '127.0.0.1', port: s.port };
}

/** Terminates the backend `where` selects once it is running pg_sleep (the statement is under way, not queued). */
async function terminateWhenSleeping(where: string, value: string | number): Promise<void> {
  const pid = await eventually(`a backend with ${where} = ${value} in pg_sleep`, async () => {
    const r = await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE ${where} = $1 AND state = 'active' AND query LIKE '%pg_sleep%'`, [value]);
    return r.rows[0]?.pid;
  }, 20_000, 20);
  const r = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
  expect(r.rows[0]?.ok).toBe(true);
}

interface Observed { queryError: string | undefined; errorEvents: string[] }

/** node-pg: a statement killed by pg_terminate_backend while it runs; what the client saw. */
async function killedWhileRunning(side: Side, query: pg.QueryConfig): Promise<Observed> {
  const c = new pg.Client(clientConfig(side));
  const errorEvents: string[] = [];
  // One handler: a second 'error' event (an error of the proxy's own after the server's) shows up here.
  c.on('error', (e: Error & { code?: string }) => errorEvents.push(e.code ?? e.message));
  const ended = new Promise<void>((r) => c.once('end', () => r()));
  await c.connect();
  const pid = (c as unknown as { processID: number }).processID;
  const result = c.query(query).then(() => undefined, (e: Error & { code?: string }) => e.code ?? e.message);
  await terminateWhenSleeping('pid', pid);
  const queryError = await result;
  await ended;
  return { queryError, errorEvents };
}

async function useDurability(durability: 'Synced' | 'Written'): Promise<void> {
  await s.applyPolicy((spec) => { spec.recording = { ...(spec.recording as object), durability }; });
  const { metadata } = await getObject<{ metadata: { generation: number } }>('accesspolicy', s.namespace, 'orders-db');
  await eventually(`the sidecar to compile orders-db generation ${metadata.generation}`, async () => {
    const res = await request(`http://127.0.0.1:${s.adminPort}/readyz`);
    const body = await res.body.json() as { policies?: Record<string, { generation?: number }> };
    return (body.policies?.['orders-db']?.generation ?? 0) >= metadata.generation ? true : undefined;
  }, 20_000, 100);
}

describe.each(['Synced', 'Written'] as const)('the server ends the session with its FATAL, durability %s', (durability) => {
  beforeAll(async () => { await useDurability(durability); });

  const TRIES = 8;
  const expected: Observed = { queryError: '57P01', errorEvents: ['Connection terminated unexpectedly'] };

  it(`node-pg, a named prepared statement running (${TRIES} tries): 57P01 reaches the query, then one 'error' event, as directly`, async () => {
    for (let i = 0; i < TRIES; i++) {
      const query = { name: `sleeper-${i}`, text: 'SELECT pg_sleep($1)', values: [30] };
      expect(await killedWhileRunning('direct', query)).toEqual(expected);
      expect(await killedWhileRunning('sidecar', query)).toEqual(expected);
    }
  });

  it('node-pg, an unnamed extended-protocol statement and a simple query: the same', async () => {
    for (const query of [{ text: 'SELECT pg_sleep($1)', values: [30] }, { text: 'SELECT pg_sleep(30)' }]) {
      expect(await killedWhileRunning('direct', query)).toEqual(expected);
      expect(await killedWhileRunning('sidecar', query)).toEqual(expected);
    }
  });

  it('psql: the same output and exit code as directly', async () => {
    const pgs = requirePostgres();
    const run = async (side: Side, input: string, app: string): Promise<{ code: number | null; stdout: string; stderr: string }> => {
      const env = { ...(side === 'direct' ? s.directEnv() : s.libpqEnv(token)), PGAPPNAME: app };
      const running = runCommand(`${pgs.binDir}/psql`, ['-X', '-v', 'ON_ERROR_STOP=1'], { env, input, timeoutMs: 60_000 });
      await terminateWhenSleeping('application_name', app);
      const r = await running;
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    };
    // (psql 15, the harness's, has no \bind: node-pg above covers the extended protocol.)
    const input = 'SELECT 1 AS before;\nSELECT pg_sleep(30);\n';
    const direct = await run('direct', input, `edges-${durability}-d`);
    const proxied = await run('sidecar', input, `edges-${durability}-s`);
    expect(direct.stderr).toMatch(/FATAL:\s+terminating connection due to administrator command/);
    expect(proxied).toEqual(direct);
  });
});

describe('the server ends sessions at random moments of a busy extended-protocol session', () => {
  beforeAll(async () => { await useDurability('Synced'); });

  /** A client preparing, binding and executing statements back to back until it dies; what it saw. */
  async function killedAtRandom(side: Side, delayMs: number): Promise<string[]> {
    const c = new pg.Client(clientConfig(side));
    const seen: string[] = [];
    c.on('error', (e: Error & { code?: string }) => seen.push(`event ${e.code ?? e.message}`));
    const ended = new Promise<void>((r) => c.once('end', () => r()));
    await c.connect();
    const pid = (c as unknown as { processID: number }).processID;
    const loop = (async () => {
      for (let i = 0; ; i++) {
        try {
          await c.query({ name: `q${i % 7}-${i}`, text: 'SELECT $1::int + 1 AS n, $2::text AS t', values: [i, 'x'] });
        } catch (err) {
          seen.push(`query ${(err as { code?: string }).code ?? (err as Error).message}`);
          return;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, delayMs));
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await loop;
    await ended;
    return seen;
  }

  it('whatever the sidecar was doing (a record, its own Describe, a Bind), the client sees only the server\'s 57P01 and node-pg\'s own end', async () => {
    // What node-pg itself reports, directly too: the server's 57P01 (to the running query, or as an
    // event when it came between two queries, after which node-pg refuses the next query), then
    // the end of the connection. Never an error of the sidecar's own (08006, 08P01, XX000).
    const allowed = new Set(['query 57P01', 'event 57P01', 'event Connection terminated unexpectedly', 'query Connection terminated unexpectedly',
      'query Client has encountered a connection error and is not queryable',
      // The server's socket closed while the client was still writing (PostgreSQL itself resets it).
      'event ECONNRESET', 'query ECONNRESET']);
    const outcomes: string[][] = [];
    for (let i = 0; i < 12; i++) {
      for (const side of ['direct', 'sidecar'] as const) {
        const seen = await killedAtRandom(side, 5 + ((i * 37) % 60));
        expect([side, seen.filter((x) => !allowed.has(x))]).toEqual([side, []]);
        expect([side, seen.some((x) => x.endsWith('57P01'))]).toEqual([side, true]);
        expect([side, seen.filter((x) => x.startsWith('event')).length <= 2]).toEqual([side, true]);
        if (side === 'sidecar') outcomes.push(seen);
      }
    }
    // Most kills land while a statement is in flight (the loop never idles): the query gets 57P01 and one event follows.
    expect(outcomes.filter((o) => o[0] === 'query 57P01').length).toBeGreaterThan(0);
  });
});

/** Sends `bytes` on a fresh connection and returns everything received until the server closed it. */
function exchange(side: Side, steps: Array<Buffer | 'half-close'>): Promise<Buffer> {
  const { host, port: p } = port(side);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(p, host, () => {
      for (const step of steps) {
        if (step === 'half-close') sock.end();
        else sock.write(step);
      }
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** What a byte string from a server says: nothing, one-byte answers, or its ErrorResponses' severity and code. */
function answer(bytes: Buffer): string {
  if (bytes.length === 0) return 'closed silently';
  if (bytes.length === 1) return `byte ${String.fromCharCode(bytes[0] ?? 0)}`;
  const parts: string[] = [];
  new Parser().parse(bytes, (m) => {
    const e = m as { name: string; severity?: string; code?: string };
    if (e.name === 'error') parts.push(`${e.severity ?? ''} ${e.code ?? ''}`);
    else if (!e.name.startsWith('authentication')) parts.push(e.name);
  });
  return parts.join(', ');
}

function typed(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function lengthOnly(len: number, body = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(len);
  return Buffer.concat([b, body]);
}

describe('aborted startups: answered as PostgreSQL answers them', () => {
  const cases: Array<[string, Array<Buffer | 'half-close'>]> = [
    ['Terminate before the StartupMessage', [serialize.end()]],
    ['Terminate, then the connection half-closed', [serialize.end(), 'half-close']],
    ...[...'QPBDCESHcdfpF'].map((t): [string, Array<Buffer | 'half-close'>] => [`a typed message '${t}' before the StartupMessage`, [typed(t, Buffer.from('SELECT 1\0'))]]),
    ['a packet length of 4 (below the minimum)', [lengthOnly(4)]],
    ['a packet length of -1', [lengthOnly(-1)]],
    ['a packet length beyond 10,004 bytes', [lengthOnly(10_005)]],
    ['an incomplete startup packet, then EOF', [lengthOnly(40, Buffer.from([0, 3, 0, 0])), 'half-close']],
    ['nothing at all, then EOF', ['half-close']],
    ['an unsupported protocol version (4.0)', [lengthOnly(8, Buffer.from([0, 4, 0, 0]))]],
    ['a CancelRequest of the wrong length', [lengthOnly(12, Buffer.from([0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1]))]],
    ['an SSLRequest with trailing bytes, then EOF', [lengthOnly(12, Buffer.from([0x04, 0xd2, 0x16, 0x2f, 1, 2, 3, 4])), 'half-close']],
  ];

  it.each(cases)('%s', async (_what, steps) => {
    const direct = answer(await exchange('direct', steps));
    const proxied = answer(await exchange('sidecar', steps));
    expect(proxied).toBe(direct);
  });

  it('the class is tested against real answers: PostgreSQL closes silently on Terminate and refuses an unsupported version', async () => {
    expect(answer(await exchange('direct', [serialize.end()]))).toBe('closed silently');
    expect(answer(await exchange('direct', [lengthOnly(8, Buffer.from([0, 4, 0, 0]))]))).toBe('FATAL 0A000');
  });

  it('Terminate where the password is due: FATAL 08P01 from both', async () => {
    const startup = (user: string): Buffer => serialize.startup({ user, database: s.database });
    const direct = answer(await exchange('direct', [startup('orders_app'), serialize.end()]));
    const proxied = answer(await exchange('sidecar', [startup('agent'), serialize.end()]));
    expect(direct).toBe('FATAL 08P01');
    expect(proxied).toBe(direct);
  });

  it('the sidecar still serves the next client', async () => {
    const c = new pg.Client(clientConfig('sidecar'));
    c.on('error', () => undefined);
    await c.connect();
    const r = await c.query<{ n: number }>('SELECT 1 AS n');
    expect(r.rows[0]?.n).toBe(1);
    await c.end();
  });
});
