// Issue 7 end to end: the REAL sidecar process (node sidecar/src/main.ts, real enforcer: OIDC
// tokens from the harness IdP, the AccessPolicy watched on the harness apiserver, ApprovalRequests,
// the spool and chain shipped to the real operator) in front of the harness PostgreSQL loaded
// from examples/lgpd-orders/seed.sql. Clients are the real psql, pgbench and node-pg, plus a raw
// protocol client for what drivers hide (ReadyForQuery status, cancel, malformed messages).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { runCommand } from '../../e2e/harness/exec.ts';
import { loadHarnessState, requirePostgres } from '../../e2e/harness/state.ts';
import { userToken } from '../../e2e/support/kube-apply.ts';
import { k } from '../../e2e/support/kubectl.ts';
import { call } from '../../e2e/support/operator-api.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { RawClient } from './pg-raw-client.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(60_000);

let s: PgScenario;
let support: string;
let contractor: string;
const open: Array<{ end(): Promise<void> }> = [];

beforeAll(async () => {
  s = await startPgScenario({ operator: true, webhook: true, approvalWait: '6s' });
  await k(['apply', '-f', '-'], 'admin', JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'approver', namespace: s.namespace }, rules: [{ apiGroups: ['guarita.io'], resources: ['approvalrequests'], verbs: ['get', 'list', 'watch', 'patch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dpo-approvers', namespace: s.namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'approver' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'dpo' }] },
    ],
  }));
  support = await s.token('support-agent');
  contractor = await s.token('contractor-agent');
}, 180_000);

afterAll(async () => {
  for (const c of open) await c.end().catch(() => undefined);
  await s?.stop();
}, 60_000);

function client(token: string, extra: Partial<pg.ClientConfig> = {}): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS, ...extra });
  c.on('error', () => undefined);
  open.push(c);
  return c;
}

function raw(): RawClient {
  const c = new RawClient(s.port);
  open.push({ end: () => { c.close(); return Promise.resolve(); } });
  return c;
}

describe('psql', () => {
  it('psql -c: SELECT returns masked CPF and e-mail', async () => {
    const r = await s.psql(support, ['-A', '-F', '|', '-c', 'SELECT id, nome, cpf, email, telefone, notes FROM customers WHERE id IN (1, 7) ORDER BY id']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Larissa Oliveira');
    expect(r.stdout).not.toContain('590.830.166-33');
    expect(r.stdout).not.toContain('larissa.oliveira1@exemplo.com.br');
    expect(r.stdout).not.toContain('ana.ferreira7@exemplo.com.br');
    expect(r.stdout).toMatch(/\*\*\*\.\*\*\*\.\*\*\*-33/);
  });

  it('DROP TABLE returns 42501 naming the rule, and the next query of the same session works', async () => {
    const r = await s.psql(support, ['-v', 'VERBOSITY=verbose'], { input: 'DROP TABLE customers;\nSELECT count(*) AS n FROM customers;\n', onErrorStop: false });
    expect(r.stderr).toMatch(/ERROR:\s+42501: denied \(rule deny-ddl-and-dcl\)/);
    expect(r.stdout).toMatch(/n\s*\n-+\s*\n\s*50/);
  });

  it('psql -f: a script with a transaction, a denial inside it, ROLLBACK, and work after it', async () => {
    const file = join(s.sidecar.logFile, '..', `script-${s.id}.sql`);
    writeFileSync(file, [
      'BEGIN;', "UPDATE orders SET status = 'paid' WHERE id = 1;", 'DELETE FROM orders;', 'SELECT 1;', 'ROLLBACK;',
      "SELECT status FROM orders WHERE id = 1;", 'SELECT cpf FROM customers WHERE id = 2;',
    ].join('\n'));
    const r = await s.psql(support, ['-f', file], { onErrorStop: false });
    expect(r.stderr).toMatch(/denied \(rule deny-unbounded-writes\)/);
    expect(r.stderr).toMatch(/current transaction is aborted/);
    expect(r.stdout).toContain('ROLLBACK');
    expect(r.stdout).toMatch(/status\s*\n-+\s*\n\s*(open|paid|shipped|refunded)/);
    expect(r.stdout).toContain('***.***.***-88');
  });

  it('a multi-statement string is decided by its strictest part: nothing of it runs', async () => {
    const before = await s.psql(support, ['-At', '-c', "SELECT count(*) FROM orders WHERE status = 'multi'"]);
    const r = await s.psql(support, ['-c', "INSERT INTO orders (customer_id, status, total_cents) VALUES (1, 'multi', 1); DROP TABLE orders;"], { onErrorStop: false });
    expect(r.stderr).toMatch(/statement 2 of 2 .*deny-ddl-and-dcl/);
    const after = await s.psql(support, ['-At', '-c', "SELECT count(*) FROM orders WHERE status = 'multi'"]);
    expect(after.stdout).toBe(before.stdout);
  });

  it('\\copy FROM a file loads rows (COPY FROM STDIN) once the DPO approves, \\copy TO stdout needs approval', async () => {
    const csv = join(s.sidecar.logFile, '..', `orders-${s.id}.csv`);
    writeFileSync(csv, '3,copied,111\n4,copied,222\n');
    const held = s.psql(support, ['-c', `\\copy orders (customer_id, status, total_cents) FROM '${csv}' WITH (FORMAT csv)`], { timeoutMs: 30_000 });
    // The example policy holds bulk imports for the DPO (imports-need-dpo): a dpo member approves while psql waits.
    const name = await eventually('the ApprovalRequest for the import', async () => {
      const list = JSON.parse(await k(['get', 'approvalrequests', '-n', s.namespace, '-o', 'json'])) as { items: Array<{ metadata: { name: string }; spec: { command: { text: string } } }> };
      // psql rewrites \copy as "COPY  orders ( customer_id, ... ) FROM STDIN ...".
      return list.items.find((i) => /^COPY\s+orders\s*\(\s*customer_id.*FROM STDIN/.test(i.spec.command.text))?.metadata.name;
    }, 20_000);
    await k(['patch', 'approvalrequest', name, '-n', s.namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: 'ticket LGPD-43' } }])], 'dana');
    const load = await held;
    expect(load.stderr).toContain(name);
    expect(load.stdout).toContain('COPY 2');
    const count = await s.psql(support, ['-At', '-c', "SELECT count(*) FROM orders WHERE status = 'copied'"]);
    expect(count.stdout.trim()).toBe('2');
    const out = await s.psql(support, ['-c', '\\copy (SELECT id, cpf FROM customers) TO STDOUT'], { onErrorStop: false });
    expect(out.stderr).toMatch(/NOTICE: .*ApprovalRequest/);
    expect(out.stderr).toMatch(/ERROR: .*ApprovalRequest/);
    expect(out.stdout).toBe('');
  });
});

describe('approvals', () => {
  async function pendingRequest(sql: string, after: Set<string>): Promise<string> {
    return eventually('an ApprovalRequest for the COPY', async () => {
      const list = JSON.parse(await k(['get', 'approvalrequests', '-n', s.namespace, '-o', 'json'])) as { items: Array<{ metadata: { name: string }; spec: { command: { text: string } }; status?: { phase?: string } }> };
      return list.items.find((i) => i.spec.command.text === sql && !after.has(i.metadata.name) && (i.status?.phase ?? 'Pending') === 'Pending')?.metadata.name;
    }, 20_000);
  }

  async function approveAs(user: 'dana', name: string): Promise<void> {
    await k(['patch', 'approvalrequest', name, '-n', s.namespace, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/reviews/-', value: { decision: 'Approved', reason: 'ticket LGPD-42' } }])], user);
  }

  async function names(): Promise<Set<string>> {
    const list = JSON.parse(await k(['get', 'approvalrequests', '-n', s.namespace, '-o', 'json'])) as { items: Array<{ metadata: { name: string } }> };
    return new Set(list.items.map((i) => i.metadata.name));
  }

  it('COPY customers TO STDOUT waits, runs once after a kubectl patch by a dpo user, then needs a new approval', async () => {
    const sql = 'COPY customers TO STDOUT';
    const seen = await names();
    const held = s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    const name = await pendingRequest(sql, seen);
    await approveAs('dana', name);
    const r = await held;
    expect(r.stderr).toContain(`NOTICE:  `);
    expect(r.stderr).toContain(name);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(50);
    expect(r.stdout).not.toMatch(/\d{3}\.\d{3}\.\d{3}-\d{2}/);
    expect(r.stdout).not.toContain('@exemplo.com.br');
    await eventually('Consumed', async () => {
      const ar = JSON.parse(await k(['get', 'approvalrequest', name, '-n', s.namespace, '-o', 'json'])) as { status?: { phase?: string; execution?: { rows?: number } } };
      return ar.status?.phase === 'Consumed' ? ar : undefined;
    });
    // The approval was for one run: the same statement is held again, on a new request.
    const again = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    expect(again.code).not.toBe(0);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/ERROR: .*ApprovalRequest/);
    expect(again.stderr).not.toContain(name);
  }, 90_000);

  it('after the wait ends the error names the request; re-running the same statement once approved consumes it', async () => {
    const sql = 'COPY customers (id, cpf, email) TO STDOUT WITH (FORMAT csv, HEADER)';
    const seen = await names();
    const first = await s.psql(support, ['-c', sql], { onErrorStop: false, timeoutMs: 30_000 });
    const name = await pendingRequest(sql, seen);
    expect(first.stderr).toMatch(new RegExp(`ERROR: .*${name}`));
    await approveAs('dana', name);
    await eventually('Approved', async () => {
      const ar = JSON.parse(await k(['get', 'approvalrequest', name, '-n', s.namespace, '-o', 'json'])) as { status?: { phase?: string } };
      return ar.status?.phase === 'Approved' ? true : undefined;
    });
    const rerun = await s.psql(support, ['-c', sql], { timeoutMs: 30_000 });
    expect(rerun.stderr).toBe('');
    const lines = rerun.stdout.trim().split('\n');
    expect(lines[0]).toBe('id,cpf,email');
    expect(lines).toHaveLength(51);
    expect(lines[1]).toMatch(/^1,\*\*\*\.\*\*\*\.\*\*\*-33,/);
  }, 90_000);

  it('a CancelRequest (psql Ctrl-C) abandons the approval wait with 57014', async () => {
    const c = raw();
    await c.login({ token: support, database: s.database, options: PURPOSE_OPTIONS });
    c.send(serialize.query('COPY orders TO STDOUT'));
    await c.until(() => c.messages.some((m) => m.name === 'notice'), 10_000);
    const cancel = raw();
    cancel.send(serialize.cancel(c.key?.pid ?? 0, c.key?.secret ?? 0));
    await c.readyCount(1, 5000);
    expect(c.trace()).toEqual(['notice', 'E:57014', 'Z:I']);
  }, 30_000);
});

describe('node-pg', () => {
  it('parameterised queries and named prepared statements return masked rows', async () => {
    const c = client(support);
    await c.connect();
    const one = await c.query('SELECT id, cpf, email, dt_nasc FROM customers WHERE id = $1', [3]);
    expect(one.rows[0]).toMatchObject({ id: 3, cpf: '***.***.***-11' });
    expect(one.rows[0].email).not.toContain('tiago.oliveira3');
    for (const id of [4, 5, 6]) {
      const r = await c.query({ name: 'customer-by-id', text: 'SELECT id, nome, cpf FROM customers WHERE id = $1', values: [id] });
      expect(r.rows[0].cpf).toMatch(/^\*\*\*\.\*\*\*\.\*\*\*-\d\d$/);
    }
    const arr = await c.query({ text: 'SELECT notes FROM customers WHERE id = $1', values: [7], rowMode: 'array' });
    expect(arr.rows[0]?.[0]).not.toContain('ana.ferreira7@exemplo.com.br');
  });

  it('a denied prepared statement gets 42501 and never runs; the connection goes on, inside and outside transactions', async () => {
    const c = client(support);
    await c.connect();
    await expect(c.query('DELETE FROM orders', [])).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('deny-unbounded-writes') });
    await expect(c.query({ name: 'drop-it', text: 'DROP TABLE orders' })).rejects.toMatchObject({ code: '42501' });
    expect((await c.query('SELECT count(*)::int AS n FROM orders WHERE customer_id = $1', [1])).rows[0].n).toBeGreaterThan(0);
    await c.query('BEGIN');
    await c.query("UPDATE orders SET status = 'refunded' WHERE id = $1", [2]);
    await expect(c.query('TRUNCATE orders', [])).rejects.toMatchObject({ code: '42501' });
    await expect(c.query('SELECT 1', [])).rejects.toMatchObject({ code: '25P02' });
    await c.query('ROLLBACK');
    expect((await c.query('SELECT count(*)::int AS n FROM orders', [])).rows[0].n).toBeGreaterThan(0);
  });

  it('binary-format results of typed columns are refused (policy default), text is still served', async () => {
    const c = client(support);
    await c.connect();
    await expect(c.query({ text: 'SELECT id, cpf FROM customers WHERE id = $1', values: [1], binary: true } as pg.QueryConfig)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('column "id"') });
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  });
});

describe('protocol', () => {
  it('keeps ReadyForQuery status right around a denial in a transaction and in an extended batch', async () => {
    const c = raw();
    await c.login({ token: support, database: s.database, options: PURPOSE_OPTIONS });
    c.send(serialize.query('BEGIN'));
    c.send(serialize.query('DROP TABLE orders'));
    c.send(serialize.query('ROLLBACK'));
    await c.readyCount(3);
    expect(c.trace()).toEqual(['commandComplete', 'Z:T', 'E:42501', 'Z:E', 'commandComplete', 'Z:I']);
    c.messages.length = 0;
    c.send(Buffer.concat([
      serialize.parse({ text: 'SELECT cpf FROM customers WHERE id = $1' }), serialize.bind({ values: ['1'] }), serialize.describe({ type: 'P' }), serialize.execute({}),
      serialize.parse({ name: 'bad', text: 'DROP TABLE customers' }), serialize.bind({ statement: 'bad' }), serialize.execute({}), serialize.sync(),
      serialize.parse({ text: 'SELECT count(*) FROM customers' }), serialize.bind({}), serialize.execute({}), serialize.sync(),
    ]));
    await c.readyCount(2);
    expect(c.trace()).toEqual(['parseComplete', 'bindComplete', 'rowDescription', 'dataRow', 'commandComplete', 'E:42501', 'Z:I', 'parseComplete', 'bindComplete', 'dataRow', 'commandComplete', 'Z:I']);
  });

  it('extended protocol: client Describe of a statement, named portals kept across Syncs in a transaction, partial Executes, masking throughout', async () => {
    const c = raw();
    await c.login({ token: support, database: s.database, options: PURPOSE_OPTIONS });
    // Flush (no Sync): the answers come without ReadyForQuery, as drivers preparing ahead expect.
    c.send(Buffer.concat([
      serialize.parse({ name: 'by_ids', text: 'SELECT id, cpf FROM customers WHERE id <= $1 ORDER BY id', types: [23] }),
      serialize.describe({ type: 'S', name: 'by_ids' }), serialize.flush(),
    ]));
    await c.until(() => c.messages.some((m) => m.name === 'rowDescription'));
    c.send(serialize.sync());
    await c.readyCount(1);
    expect(c.trace()).toEqual(['parseComplete', 'parameterDescription', 'rowDescription', 'Z:I']);
    c.messages.length = 0;
    c.send(serialize.query('BEGIN'));
    c.send(Buffer.concat([serialize.bind({ portal: 'cur', statement: 'by_ids', values: ['5'] }), serialize.execute({ portal: 'cur', rows: 2 }), serialize.sync()]));
    c.send(Buffer.concat([serialize.execute({ portal: 'cur', rows: 2 }), serialize.sync()]));
    c.send(Buffer.concat([serialize.execute({ portal: 'cur', rows: 2 }), serialize.close({ type: 'P', name: 'cur' }), serialize.sync()]));
    c.send(serialize.query('COMMIT'));
    await c.readyCount(5);
    expect(c.trace()).toEqual([
      'commandComplete', 'Z:T',
      'bindComplete', 'dataRow', 'dataRow', 'portalSuspended', 'Z:T',
      'dataRow', 'dataRow', 'portalSuspended', 'Z:T',
      'dataRow', 'commandComplete', 'closeComplete', 'Z:T',
      'commandComplete', 'Z:I',
    ]);
    const cpfs = c.messages.filter((m) => m.name === 'dataRow').map((m) => (m as unknown as { fields: string[] }).fields[1]);
    expect(cpfs).toHaveLength(5);
    for (const cpf of cpfs) expect(cpf).toMatch(/^\*\*\*\.\*\*\*\.\*\*\*-\d\d$/);
  });

  it('pipelined batches are decided in order: allowed, denied, held-for-approval-behind-a-denial, allowed', async () => {
    const c = raw();
    await c.login({ token: support, database: s.database, options: PURPOSE_OPTIONS });
    const batch = (sql: string): Buffer => Buffer.concat([serialize.parse({ text: sql }), serialize.bind({}), serialize.execute({}), serialize.sync()]);
    c.send(Buffer.concat([
      batch('SELECT 1'),
      Buffer.concat([serialize.parse({ text: 'DROP TABLE orders' }), serialize.bind({}), serialize.execute({}),
        // In the same batch after the denial: discarded, so never held for approval.
        serialize.parse({ text: 'COPY customers TO STDOUT' }), serialize.bind({}), serialize.execute({}), serialize.sync()]),
      batch('SELECT 2'),
    ]));
    await c.readyCount(3);
    expect(c.trace()).toEqual([
      'parseComplete', 'bindComplete', 'dataRow', 'commandComplete', 'Z:I',
      'E:42501', 'Z:I',
      'parseComplete', 'bindComplete', 'dataRow', 'commandComplete', 'Z:I',
    ]);
    expect(c.messages.some((m) => m.name === 'notice')).toBe(false);
  });

  it('forwards a CancelRequest to the right upstream backend', async () => {
    const c = raw();
    await c.login({ token: support, database: s.database, options: PURPOSE_OPTIONS });
    c.send(serialize.query('SELECT pg_sleep(20)'));
    await new Promise((r) => setTimeout(r, 300));
    const cancel = raw();
    cancel.send(serialize.cancel(c.key?.pid ?? 0, c.key?.secret ?? 0));
    await c.readyCount(1, 10_000);
    expect(c.trace()).toContain('E:57014');
  });

  it('pgbench -S runs through the listener (simple, extended and prepared protocols)', async () => {
    const pgc = requirePostgres();
    const init = await runCommand(join(pgc.binDir, 'pgbench'), ['-i', '-s', '1', '-q'], { env: s.directEnv(), timeoutMs: 120_000 });
    expect(init.code).toBe(0);
    for (const mode of ['simple', 'extended', 'prepared']) {
      const r = await runCommand(join(pgc.binDir, 'pgbench'), ['-S', '-M', mode, '-c', '2', '-t', '200', '-n'], { env: s.libpqEnv(support), timeoutMs: 120_000 });
      expect(`${mode}: ${r.stderr}`).not.toMatch(/error|FATAL/i);
      expect(r.stdout).toMatch(/number of transactions actually processed: 400\/400/);
      expect(r.stdout).toMatch(/number of failed transactions: 0/);
    }
  }, 120_000);

  it('malformed and truncated messages close the connection with an error; nothing reaches the upstream; the process lives on', async () => {
    const logFile = loadHarnessState().processes.find((p) => p.name === 'postgres')?.logFile ?? '';
    const before = readFileSync(logFile, 'utf8').length;
    const frame = (type: string, body: Buffer, length = body.length + 4): Buffer => {
      const head = Buffer.alloc(5);
      head[0] = type.charCodeAt(0);
      head.writeInt32BE(length, 1);
      return Buffer.concat([head, body]);
    };
    const badBind = Buffer.from(serialize.bind({ values: ['1'] }));
    badBind.writeInt16BE(7, 5 + 2 + 2); // parameter format code 7
    const malformed: Buffer[] = [
      frame('Q', Buffer.from('SELECT 1\0'), 2), // impossible length
      frame('z', Buffer.alloc(0)), // unknown type
      frame('Q', Buffer.from('SELECT 1')), // string without its NUL
      badBind,
      frame('D', Buffer.from('XNAME\0')), // Describe of neither S nor P
      frame('S', Buffer.from([1, 2])), // Sync with a body
      frame('E', Buffer.from('\0')), // Execute without its row count
      frame('P', Buffer.from('\0SELECT 1\0\0\x05\0\0\0\x17')), // 5 parameter types announced, 1 sent
    ];
    for (const [i, bad] of malformed.entries()) {
      const c = raw();
      await c.login({ token: support, database: s.database, options: PURPOSE_OPTIONS });
      c.send(Buffer.concat([serialize.query('SELECT 1'), bad, serialize.query('SELECT 2')]));
      await c.until(() => c.closed, 5000);
      expect([i, c.trace()]).toEqual([i, ['rowDescription', 'dataRow', 'commandComplete', 'Z:I', 'E:08P01']]);
    }
    for (let round = 0; round < 30; round++) {
      const c = raw();
      await c.login({ token: support, database: s.database, options: PURPOSE_OPTIONS });
      const valid = serialize.query('SELECT 3');
      // Truncated (the rest never comes, the client gives up) or followed by random bytes.
      c.send(round % 2 === 0 ? valid.subarray(0, 1 + (round % (valid.length - 1))) : Buffer.concat([Buffer.from([0x51]), randomBytes(4 + (round % 9))]));
      await c.until(() => c.closed, 300).catch(() => c.socket.end());
      await c.until(() => c.closed, 3000);
    }
    const text = readFileSync(logFile, 'utf8').slice(before);
    expect(text).not.toMatch(/invalid frontend message|insufficient data left in message|unexpected EOF within message|invalid message format|invalid string in message/);
    expect(s.sidecar.exit).toBeUndefined();
    const r = await s.psql(support, ['-At', '-c', 'SELECT 42']);
    expect(r.stdout.trim()).toBe('42');
  }, 60_000);
});

describe('revocation and recording', () => {
  it('a revoked subject\'s open connection is terminated (57P01 with the reason), and it cannot reconnect', async () => {
    const c = client(contractor);
    await c.connect();
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    const terminated = new Promise<Error>((resolve) => c.once('error', resolve));
    await s.applyPolicy((spec) => { spec.revokedSubjects = [{ kind: 'User', name: 'contractor-agent', reason: 'contract ended' }]; });
    const err = await terminated as Error & { code?: string };
    expect(err.code).toBe('57P01');
    expect(err.message).toMatch(/revoked|contract ended/);
    await expect(client(contractor).connect()).rejects.toMatchObject({ code: '42501' });
    // Others are unaffected.
    expect((await s.psql(support, ['-At', '-c', 'SELECT 1'])).stdout.trim()).toBe('1');
    await s.applyPolicy((spec) => { spec.revokedSubjects = []; });
  }, 60_000);

  it('records statement, decision, rule, row count, masked sample and timing, chained and shipped to the operator', async () => {
    const marker = `rec-${s.id}`;
    await s.psql(support, ['-c', `SELECT id, cpf, email, '${marker}' AS tag FROM customers WHERE id <= 3 ORDER BY id`]);
    await s.psql(support, ['-c', `DROP TABLE customers /* ${marker} */`], { onErrorStop: false });
    const op = s.operator;
    if (op === undefined) throw new Error('operator not running');
    const adminToken = userToken('admin');
    const records = await eventually('the records at the operator', async () => {
      const list = await call<{ items: Array<{ sessionId: string }> }>(op.url, 'GET', `/v1/namespaces/${s.namespace}/sessions`, adminToken);
      const all = await Promise.all(list.body.items.map((i) => call<{ records: Array<Record<string, unknown>> }>(op.url, 'GET', `/v1/namespaces/${s.namespace}/sessions/${i.sessionId}`, adminToken)));
      const recs = all.flatMap((r) => r.body.records ?? []).filter((r) => typeof r.command === 'string' && r.command.includes(marker));
      return recs.length >= 2 ? recs : undefined;
    }, 30_000);
    const select = records.find((r) => r.decision === 'allow') as { rule: string; result: { rows: number; sample: string }; masked: Record<string, number>; durationMs: number; hash: string; prev: string; seq: number };
    expect(select.rule).toBe('allow-the-rest');
    expect(select.result.rows).toBe(3);
    expect(select.result.sample.split('\n')[0]).toBe('id\tcpf\temail\ttag');
    expect(select.result.sample).not.toContain('590.830.166-33');
    expect(select.masked.cpf).toBe(3);
    expect(select.durationMs).toBeGreaterThanOrEqual(0);
    expect(select.hash).toMatch(/^[0-9a-f]{64}$/);
    const denied = records.find((r) => r.decision === 'deny') as { rule: string };
    expect(denied.rule).toBe('deny-ddl-and-dcl');
  }, 60_000);
});
