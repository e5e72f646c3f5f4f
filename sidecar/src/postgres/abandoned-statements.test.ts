// Round 12 (evidence review, finding 1): a connection that ends with statements already sent
// upstream. The server runs them anyway, so their records come from its answers (CommandComplete,
// ErrorResponse), read after the agent left; what stays unanswered is recorded as outcomeUnknown,
// never as 0 rows. A scripted upstream holds the answers until the test (or a CancelRequest)
// releases them; the listener runs with the local enforcer and the example policy.
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { serialize } from 'pg-protocol';
import { Writer } from 'pg-protocol/dist/buffer-writer.js';
import pino from 'pino';
import { localEnforcer, type LocalEnforcer, type RecordedCommand } from '../../test/local-enforcer.ts';
import { RawClient } from '../../test/pg-raw-client.ts';
import { authenticationOk, backendKeyData, dataRow, errorResponse, parameterStatus, readyForQuery } from './backend.ts';
import { CANCELED_READ_MS } from './connection.ts';
import { decodeFrontendMessage, FrontendReader, type FrontendMessage } from './frontend.ts';
import { startPostgresListener, type PostgresListener, type PostgresTargetConfig } from './index.ts';

const POLICY = join(import.meta.dirname, '../../../examples/lgpd-orders/accesspolicy.yaml');
const TOKEN = 'token-of-alice';
const PURPOSE = '-c guarita.purpose=customer-support';
const logger = pino({ level: 'silent' });
const PID = 5151;
const KEY = 888;

const tag = (t: string): Buffer => new Writer().addCString(t).flush(0x43);
const simple = (code: number): Buffer => new Writer().flush(code);
function rowDescription(names: string[]): Buffer {
  const w = new Writer().addInt16(names.length);
  for (const n of names) w.addCString(n).addInt32(0).addInt16(0).addInt32(25).addInt16(-1).addInt32(-1).addInt16(0);
  return w.flush(0x54);
}

/** A statement the scripted server holds: answered by `release()`, or by a CancelRequest unless `ignoreCancel`. */
interface Held { sql: string; answer: Buffer; canceled: Buffer }

/**
 * Answers like PostgreSQL where it matters here: statements whose text contains "hold" wait for
 * the test; extended-protocol answers stay buffered until Flush or Sync; COPY FROM STDIN fails on
 * CopyFail; Terminate closes the connection; a CancelRequest cancels what is held.
 */
class Scripted {
  readonly received: FrontendMessage[] = [];
  cancels = 0;
  ignoreCancel = false;
  held: Held | undefined;
  private socket: Socket | undefined;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly statements = new Map<string, string>();
  private readonly portals = new Map<string, string>();
  private extendedOut: Buffer[] = [];
  port = 0;

  constructor() {
    this.server = createServer((s) => this.accept(s));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  /** The held statement's answer (as if it had finished). */
  release(): void {
    const h = this.held;
    this.held = undefined;
    if (h !== undefined) this.socket?.write(h.answer);
  }

  /** The server dies without a word. */
  vanish(): void {
    this.socket?.destroy();
  }

  /** The server sends `messages` on the session's connection (unasked). */
  say(...messages: Buffer[]): void {
    this.socket?.write(Buffer.concat(messages));
  }

  /** The server ends the session with a FATAL (pg_terminate_backend: 57P01), the held statement unanswered. */
  fatal(code: string, message: string): void {
    this.held = undefined;
    this.socket?.end(errorResponse({ severity: 'FATAL', code, message }));
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    const reader = new FrontendReader();
    let ready = false;
    s.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (;;) {
        if (!ready) {
          const p = reader.nextStartup();
          if (p === undefined) return;
          if (p.type === 'cancel') {
            this.onCancel(s);
            return;
          }
          if (p.type !== 'startup') continue;
          ready = true;
          this.socket = s;
          s.write(Buffer.concat([
            authenticationOk(), parameterStatus('server_version', '15.0 (scripted)'), parameterStatus('client_encoding', 'UTF8'),
            parameterStatus('server_encoding', 'UTF8'), parameterStatus('standard_conforming_strings', 'on'), backendKeyData(PID, KEY), readyForQuery('I'),
          ]));
          continue;
        }
        const raw = reader.nextRaw();
        if (raw === undefined) return;
        this.onMessage(s, decodeFrontendMessage(Buffer.from(raw)));
      }
    });
  }

  private onCancel(s: Socket): void {
    this.cancels++;
    s.end();
    const h = this.held;
    if (h === undefined || this.ignoreCancel) return;
    this.held = undefined;
    this.socket?.write(h.canceled);
  }

  private onMessage(s: Socket, m: FrontendMessage): void {
    this.received.push(m);
    switch (m.type) {
      case 'terminate': s.end(); return;
      case 'query': this.onQuery(s, m.sql); return;
      case 'copyData': return;
      case 'copyDone': s.write(Buffer.concat([tag('COPY 1'), readyForQuery('I')])); return;
      case 'copyFail': s.write(Buffer.concat([errorResponse({ code: '57014', message: `COPY from stdin failed: ${m.message}` }), readyForQuery('I')])); return;
      case 'flush': this.releaseExtended(s); return;
      case 'sync': this.extendedOut.push(readyForQuery('I')); this.releaseExtended(s); return;
      default: this.onExtended(m);
    }
  }

  private releaseExtended(s: Socket): void {
    if (this.held !== undefined) return;
    s.write(Buffer.concat(this.extendedOut.splice(0)));
  }

  private onQuery(s: Socket, sql: string): void {
    const canceled = Buffer.concat([errorResponse({ code: '57014', message: 'canceling statement due to user request' }), readyForQuery('I')]);
    if (/copy .* from stdin/i.test(sql)) {
      s.write(new Writer().add(Buffer.from([0])).addInt16(2).addInt16(0).addInt16(0).flush(0x47));
      return;
    }
    if (/hold/i.test(sql)) {
      this.held = { sql, answer: Buffer.concat([tag('UPDATE 1'), readyForQuery('I')]), canceled };
      return;
    }
    // The listener's own startup queries (search_path, catalog) and anything else: one row.
    s.write(Buffer.concat([rowDescription(['id', 'email']), dataRow([Buffer.from('1'), Buffer.from('x')]), tag('SELECT 1'), readyForQuery('I')]));
  }

  /** Extended answers wait in extendedOut (Flush or Sync send them); an Execute of a "hold" statement holds everything behind it. */
  private onExtended(m: FrontendMessage): void {
    const out = this.extendedOut;
    switch (m.type) {
      case 'parse': this.statements.set(m.name, m.sql); out.push(simple(0x31)); return;
      case 'bind': this.portals.set(m.portal, this.statements.get(m.statement) ?? ''); out.push(simple(0x32)); return;
      case 'describe': out.push(m.target === 'S' ? Buffer.concat([new Writer().addInt16(0).flush(0x74), simple(0x6e)]) : simple(0x6e)); return;
      case 'execute': this.onExecute(this.portals.get(m.portal) ?? ''); return;
      case 'close': out.push(simple(0x33)); return;
      default: return;
    }
  }

  private onExecute(sql: string): void {
    if (!/hold/i.test(sql) || this.held !== undefined) {
      this.extendedOut.push(tag('UPDATE 1'));
      return;
    }
    // Answers before it go now (the server flushes them as it runs); its own wait for release.
    const before = this.extendedOut.splice(0);
    this.socket?.write(Buffer.concat(before));
    this.held = {
      sql,
      answer: tag('UPDATE 1'),
      canceled: errorResponse({ code: '57014', message: 'canceling statement due to user request' }),
    };
    const release = this.held;
    // What follows the held Execute is answered after it, as the server would.
    const afterRelease = (): void => {
      if (this.held === release) return;
      this.socket?.write(Buffer.concat(this.extendedOut.splice(0)));
    };
    const timer = setInterval(() => {
      if (this.held !== release) {
        clearInterval(timer);
        setImmediate(afterRelease);
      }
    }, 10);
    timer.unref();
  }
}

let enforcer: LocalEnforcer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  enforcer = await localEnforcer({ policyFile: POLICY, tokens: { [TOKEN]: { subject: 'alice', groups: ['support'], kind: 'User' } }, approvalWaitMs: 5000 });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(extra: Partial<PostgresTargetConfig> = {}, maxConnections?: number): Promise<{ up: Scripted; listener: PostgresListener; c: RawClient }> {
  const up = new Scripted();
  await up.start();
  cleanups.push(() => up.close());
  const listener = await startPostgresListener({
    host: '127.0.0.1', port: 0, enforcer, logger, ...(maxConnections === undefined ? {} : { maxConnections }),
    target: { name: 'orders-db', host: '127.0.0.1', port: up.port, database: 'orders', username: 'orders_app', password: 'x', ...extra },
  });
  cleanups.push(() => listener.close());
  const c = new RawClient(listener.address.port);
  cleanups.push(() => { c.close(); return Promise.resolve(); });
  await c.login({ token: TOKEN, options: PURPOSE });
  return { up, listener, c };
}

async function until(what: string, pred: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The record of `sql` once its outcome is in. */
async function recordOf(sql: string, ms = 8000): Promise<NonNullable<RecordedCommand['outcome']>> {
  let found: RecordedCommand | undefined;
  await until(`the record of ${sql}`, () => (found = enforcer.records.find((r) => r.sql === sql && r.outcome !== undefined)) !== undefined, ms);
  return found?.outcome ?? { masked: {}, durationMs: 0 };
}

const result = (o: { result?: Record<string, unknown> }): Record<string, unknown> => {
  const { rows, error, outcomeUnknown } = o.result ?? {};
  return { rows, error, outcomeUnknown };
};

describe('the agent leaves while its statement runs', () => {
  it('an UPDATE the server finishes after the agent reset its connection is recorded from its CommandComplete (1 row, no error)', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-1' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 200));
    // Nothing recorded while the server runs it.
    expect(enforcer.records.find((r) => r.sql === sql)?.outcome).toBeUndefined();
    up.release();
    expect(result(await recordOf(sql))).toEqual({ rows: 1, error: undefined, outcomeUnknown: undefined });
    // Terminate only after the answer; no CancelRequest for a statement that finished in time.
    await until('Terminate', () => up.received.some((m) => m.type === 'terminate'));
    expect(up.received.map((m) => m.type).slice(-2)).toEqual(['query', 'terminate']);
    expect(up.cancels).toBe(0);
  });

  it('the same when the agent sends Terminate right behind its statement (an orderly close)', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-2' WHERE id = 3`;
    c.send(Buffer.concat([serialize.query(sql), serialize.end()]));
    await until('the UPDATE upstream', () => up.held !== undefined);
    up.release();
    expect(result(await recordOf(sql))).toEqual({ rows: 1, error: undefined, outcomeUnknown: undefined });
  });

  it('a statement still running at the bound is canceled, and the server\'s answer to that is recorded (not 0 rows as a fact of the agent leaving)', async () => {
    const { up, c } = await setup({ statementTimeoutMs: 200 });
    const sql = `UPDATE orders SET status = 'hold-3' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.destroy();
    const o = await recordOf(sql);
    expect(up.cancels).toBe(1);
    expect(o.result?.outcomeUnknown).toBeUndefined();
    expect(o.result?.error).toMatch(/^canceling statement: the agent left \(client disconnected\) and the statement still ran 1200 ms later; the Guarita sidecar canceled it$/);
  });

  it('unanswered even after the CancelRequest: outcomeUnknown, no rows member, an error saying the agent left and the outcome was not read', async () => {
    const { up, c } = await setup({ statementTimeoutMs: 100 });
    up.ignoreCancel = true;
    const sql = `UPDATE orders SET status = 'hold-4' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.destroy();
    const o = await recordOf(sql, 1100 + CANCELED_READ_MS + 3000);
    expect(o.result).not.toHaveProperty('rows');
    expect(o.result).toMatchObject({ outcomeUnknown: true, bytes: 0 });
    expect(o.result?.error).toBe(`the agent left (client disconnected); the server's outcome was not read: no answer within 1100 ms, nor within ${CANCELED_READ_MS} ms of a CancelRequest`);
  }, 15_000);

  it('the upstream dies before answering: outcomeUnknown, saying so', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-5' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    up.vanish();
    const o = await recordOf(sql);
    expect(o.result).not.toHaveProperty('rows');
    expect(o.result).toMatchObject({ outcomeUnknown: true, error: 'the agent left (client disconnected); the server closed the connection before answering, so its outcome was not read' });
  });

  it('an extended batch without Sync: its answers are asked for with Flush (never Sync, which would commit it), then recorded', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-6' WHERE id = 3`;
    c.send(Buffer.concat([serialize.parse({ text: sql }), serialize.bind({}), serialize.execute({})]));
    await until('the Execute upstream', () => up.received.some((m) => m.type === 'execute'));
    c.socket.destroy();
    await until('a Flush', () => up.received.some((m) => m.type === 'flush'));
    up.release();
    expect(result(await recordOf(sql))).toEqual({ rows: 1, error: undefined, outcomeUnknown: undefined });
    expect(up.received.some((m) => m.type === 'sync')).toBe(false);
  });

  it('pipelined statements behind the running one are recorded from their own answers', async () => {
    const { up, c } = await setup();
    const first = `UPDATE orders SET status = 'hold-7' WHERE id = 3`;
    const second = `UPDATE orders SET status = 'after-7' WHERE id = 4`;
    c.send(Buffer.concat([
      serialize.parse({ name: 'a', text: first }), serialize.parse({ name: 'b', text: second }),
      serialize.bind({ portal: 'pa', statement: 'a' }), serialize.bind({ portal: 'pb', statement: 'b' }),
      serialize.execute({ portal: 'pa' }), serialize.execute({ portal: 'pb' }), serialize.sync(),
    ]));
    await until('both Executes upstream', () => up.received.filter((m) => m.type === 'execute').length === 2);
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    up.release();
    expect(result(await recordOf(first))).toEqual({ rows: 1, error: undefined, outcomeUnknown: undefined });
    expect(result(await recordOf(second))).toEqual({ rows: 1, error: undefined, outcomeUnknown: undefined });
  });

  it('a statement the listener had not sent yet (its Parse waits behind the running one) is recorded as not run, a fact', async () => {
    const { up, c } = await setup();
    const first = `UPDATE orders SET status = 'hold-7b' WHERE id = 3`;
    const second = `UPDATE orders SET status = 'after-7b' WHERE id = 4`;
    c.send(Buffer.concat([
      serialize.parse({ name: 'a', text: first }), serialize.bind({ portal: 'pa', statement: 'a' }), serialize.execute({ portal: 'pa' }),
      serialize.parse({ name: 'b', text: second }), serialize.bind({ portal: 'pb', statement: 'b' }), serialize.execute({ portal: 'pb' }), serialize.sync(),
    ]));
    await until('the first Execute upstream', () => up.held !== undefined);
    await new Promise((r) => setTimeout(r, 100));
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    up.release();
    expect(result(await recordOf(first))).toEqual({ rows: 1, error: undefined, outcomeUnknown: undefined });
    expect(result(await recordOf(second))).toEqual({ rows: 0, error: 'not run: the session ended', outcomeUnknown: undefined });
    expect(up.received.some((m) => m.type === 'parse' && m.sql === second)).toBe(false);
  });

  it('a COPY FROM STDIN the agent leaves in the middle is failed with CopyFail, and recorded with the server\'s error', async () => {
    const { up, c } = await setup();
    const sql = 'COPY orders (id, status) FROM STDIN';
    enforcer.approve(sql);
    c.send(serialize.query(sql));
    await c.until(() => c.messages.some((m) => m.name === 'copyInResponse'));
    c.send(serialize.copyData(Buffer.from('9\tnew\n')));
    await until('the CopyData upstream', () => up.received.some((m) => m.type === 'copyData'));
    c.socket.destroy();
    const o = await recordOf(sql);
    expect(up.received.map((m) => m.type)).toContain('copyFail');
    expect(o.result?.outcomeUnknown).toBeUndefined();
    expect(o.result?.error).toBe('COPY from stdin failed: the client left during COPY FROM STDIN (client disconnected)');
  });

  it('a statement held for approval when the agent leaves is never sent', async () => {
    const { up, c } = await setup();
    const sql = 'COPY orders TO STDOUT';
    c.send(serialize.query(sql));
    await c.until(() => c.messages.some((m) => m.name === 'notice'));
    c.socket.destroy();
    await until('the pending record', () => enforcer.records.some((r) => r.sql === sql && r.verdict === 'pending'));
    await new Promise((r) => setTimeout(r, 200));
    expect(up.received.some((m) => m.type === 'query' && /copy/i.test(m.sql))).toBe(false);
  });
});

describe('the statementTimeout backstop, the agent still there', () => {
  it('the statement it cancels is recorded with why (the policy\'s statementTimeout), as the client is told', async () => {
    const { up, c } = await setup({ statementTimeoutMs: 100 });
    const sql = `UPDATE orders SET status = 'hold-10' WHERE id = 3`;
    c.send(serialize.query(sql));
    await c.readyCount(1, 5000);
    const told = c.messages.find((m) => m.name === 'error') as unknown as { code: string; message: string };
    expect(told).toMatchObject({ code: '57014', message: 'canceling statement: it ran longer than the policy\'s statementTimeout (100 ms)' });
    expect(up.cancels).toBe(1);
    expect(result(await recordOf(sql))).toEqual({ rows: 0, error: told.message, outcomeUnknown: undefined });
  });
});

describe('the sidecar ends the session while a statement runs', () => {
  it('a revocation cancels the running statement at once and records the server\'s answer with why', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-8' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    enforcer.revoke('alice', 'consent withdrawn');
    await c.until(() => c.closed);
    expect(c.messages.find((m) => m.name === 'error')).toMatchObject({ code: '57P01', message: 'consent withdrawn' });
    const o = await recordOf(sql);
    expect(up.cancels).toBe(1);
    expect(o.result?.outcomeUnknown).toBeUndefined();
    expect(o.result?.error).toBe('canceling statement: the Guarita sidecar ended the session (consent withdrawn)');
  });

  it('a shutdown stays bounded: the running statement is canceled, read for at most CANCELED_READ_MS, then recorded as unknown when unanswered', async () => {
    const { up, c, listener } = await setup();
    up.ignoreCancel = true;
    const sql = `UPDATE orders SET status = 'hold-9' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    const started = Date.now();
    await listener.close();
    expect(Date.now() - started).toBeLessThan(CANCELED_READ_MS + 1500);
    const o = await recordOf(sql, 100);
    expect(up.cancels).toBe(1);
    expect(o.result).not.toHaveProperty('rows');
    expect(o.result).toMatchObject({ outcomeUnknown: true });
    expect(o.result?.error).toBe(`the Guarita sidecar ended the session (terminating connection: the Guarita sidecar is shutting down); the server's outcome was not read: no answer within ${CANCELED_READ_MS} ms of a CancelRequest`);
  }, 10_000);

  it('a shutdown with less drain time left than CANCELED_READ_MS reads the canceled statement for that long only', async () => {
    const { up, c, listener } = await setup();
    up.ignoreCancel = true;
    const sql = `UPDATE orders SET status = 'hold-drain' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    const started = Date.now();
    await listener.close(300);
    expect(Date.now() - started).toBeLessThan(300 + 1500);
    const o = await recordOf(sql, 100);
    expect(up.cancels).toBe(1);
    expect(o.result).toMatchObject({ outcomeUnknown: true });
    expect(o.result?.error).toMatch(/no answer within 300 ms of a CancelRequest$/);
  }, 10_000);

  it('the server dies while the agent waits: 08006 to the agent, and the statement recorded as unknown (not as failed with 0 rows)', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-11' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    up.vanish();
    await c.until(() => c.closed);
    expect(c.trace()).toEqual(['E:08006']);
    const o = await recordOf(sql);
    expect(o.result).not.toHaveProperty('rows');
    expect(o.result).toMatchObject({ outcomeUnknown: true, error: 'the server closed the connection before answering; its outcome was not read' });
  });

  it('a shutdown with nothing running closes at once, without a CancelRequest', async () => {
    const { up, listener } = await setup();
    const started = Date.now();
    await listener.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(up.cancels).toBe(0);
  });
});

// Round 12b review, finding 1: a 57P01 end that arrives after the agent left, while the listener
// reads the answers of what it left running (settle), was taken for "an answer the sidecar cannot
// handle": reading stopped without a CancelRequest, so a revoked agent's write ran on to commit and
// was recorded as unknown. Every way the sidecar ends a session reaches the listener as the
// session's closed signal (57P01) or the listener's close(drainMs) (57P01 too): each cancels at once.
describe('the sidecar ends the session after the agent left, while its statement runs', () => {
  const leave = async (up: Scripted, c: RawClient, sql: string): Promise<void> => {
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 150));
    expect(up.cancels).toBe(0);
  };

  // The enforcer closes a session for each of these reasons (enforcer.ts: revocation, the policy's
  // sweep, the expiry timer, the identity re-review of a62124b); the listener sees one signal.
  it.each([
    ['a revocation', 'consent withdrawn'],
    ['an expired credential', 'the credential expired'],
    ['a deleted policy', 'AccessPolicy lgpd-orders was deleted'],
    ['an identity re-review', 'session closed: the session\'s service-account token was reviewed again (a TokenReview answer lasts 60 s) and the session\'s credential no longer verifies: token not found'],
  ])('%s cancels the running statement at once (not 30 s later), and the server\'s answer is recorded with why', async (_what, reason) => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-12b-${reason.length}' WHERE id = 3`;
    await leave(up, c, sql);
    const started = Date.now();
    enforcer.revoke('alice', reason);
    await until('the CancelRequest', () => up.cancels === 1, 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    const o = await recordOf(sql, 2000);
    expect(result(o)).toEqual({ rows: 0, error: `canceling statement: the agent left (client disconnected), then the Guarita sidecar ended the session (${reason})`, outcomeUnknown: undefined });
  });

  it('the same after an orderly close (Terminate right behind the statement)', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-12b-terminate' WHERE id = 3`;
    c.send(Buffer.concat([serialize.query(sql), serialize.end()]));
    await until('the UPDATE upstream', () => up.held !== undefined);
    await new Promise((r) => setTimeout(r, 150));
    enforcer.revoke('alice', 'consent withdrawn');
    await until('the CancelRequest', () => up.cancels === 1, 1000);
    expect(result(await recordOf(sql, 2000)).error).toBe('canceling statement: the agent left (client sent Terminate), then the Guarita sidecar ended the session (consent withdrawn)');
  });

  it('the same for an extended batch the agent left without Sync (the Execute is canceled; still no Sync)', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-12b-extended' WHERE id = 3`;
    c.send(Buffer.concat([serialize.parse({ text: sql }), serialize.bind({}), serialize.execute({})]));
    await until('the Execute upstream', () => up.received.some((m) => m.type === 'execute'));
    c.socket.destroy();
    await until('a Flush', () => up.received.some((m) => m.type === 'flush'));
    enforcer.revoke('alice', 'consent withdrawn');
    await until('the CancelRequest', () => up.cancels === 1, 1000);
    expect(result(await recordOf(sql, 2000))).toMatchObject({ rows: 0, outcomeUnknown: undefined });
    expect(up.received.some((m) => m.type === 'sync')).toBe(false);
  });

  it('a revocation that arrives after the server answered changes nothing (no CancelRequest, the answer stands)', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-12b-done' WHERE id = 3`;
    await leave(up, c, sql);
    up.release();
    expect(result(await recordOf(sql))).toEqual({ rows: 1, error: undefined, outcomeUnknown: undefined });
    enforcer.revoke('alice', 'consent withdrawn');
    await new Promise((r) => setTimeout(r, 200));
    expect(up.cancels).toBe(0);
  });

  it('a shutdown cancels at once and stays bounded by CANCELED_READ_MS; unanswered, the record says both why and that the outcome was not read', async () => {
    const { up, c, listener } = await setup();
    up.ignoreCancel = true;
    const sql = `UPDATE orders SET status = 'hold-12b-shutdown' WHERE id = 3`;
    await leave(up, c, sql);
    const started = Date.now();
    await listener.close();
    expect(Date.now() - started).toBeLessThan(CANCELED_READ_MS + 1500);
    expect(up.cancels).toBe(1);
    const o = await recordOf(sql, 100);
    expect(o.result).not.toHaveProperty('rows');
    expect(o.result).toMatchObject({ outcomeUnknown: true });
    expect(o.result?.error).toBe(`the agent left (client disconnected), then the Guarita sidecar ended the session (terminating connection: the Guarita sidecar is shutting down); the server's outcome was not read: no answer within ${CANCELED_READ_MS} ms of a CancelRequest`);
  }, 10_000);

  it('a shutdown with less drain left than CANCELED_READ_MS reads the canceled statement for that long only', async () => {
    const { up, c, listener } = await setup();
    up.ignoreCancel = true;
    const sql = `UPDATE orders SET status = 'hold-12b-drain' WHERE id = 3`;
    await leave(up, c, sql);
    const started = Date.now();
    await listener.close(300);
    expect(Date.now() - started).toBeLessThan(300 + 1000);
    expect(up.cancels).toBe(1);
    expect((await recordOf(sql, 100)).result?.error).toMatch(/no answer within 300 ms of a CancelRequest$/);
  }, 10_000);

  it('a shutdown answered by the server after the cancel records that answer (canceled, 0 rows)', async () => {
    const { up, c, listener } = await setup();
    const sql = `UPDATE orders SET status = 'hold-12b-shutdown-answered' WHERE id = 3`;
    await leave(up, c, sql);
    await listener.close();
    expect(up.cancels).toBe(1);
    expect(result(await recordOf(sql, 100))).toEqual({ rows: 0, error: 'canceling statement: the agent left (client disconnected), then the Guarita sidecar ended the session (terminating connection: the Guarita sidecar is shutting down)', outcomeUnknown: undefined });
  }, 10_000);

  it('a shutdown during the read after the bound\'s CancelRequest shortens that read, without a second CancelRequest', async () => {
    const { up, c, listener } = await setup({ statementTimeoutMs: 100 });
    up.ignoreCancel = true;
    const sql = `UPDATE orders SET status = 'hold-12b-late' WHERE id = 3`;
    await leave(up, c, sql);
    await until('the bound\'s CancelRequest', () => up.cancels === 1, 3000);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await listener.close(200);
    expect(Date.now() - started).toBeLessThan(200 + 800);
    expect(up.cancels).toBe(1);
    const o = await recordOf(sql, 100);
    expect(o.result).toMatchObject({ outcomeUnknown: true });
    expect(o.result?.error).toBe('the agent left (client disconnected), then the Guarita sidecar ended the session (terminating connection: the Guarita sidecar is shutting down); the server\'s outcome was not read: no answer within 1100 ms, nor within 200 ms of a CancelRequest');
  }, 10_000);

  it('a revocation, then a shutdown: one CancelRequest, and the shutdown\'s shorter drain bounds the read', async () => {
    const { up, c, listener } = await setup();
    up.ignoreCancel = true;
    const sql = `UPDATE orders SET status = 'hold-12b-twice' WHERE id = 3`;
    await leave(up, c, sql);
    enforcer.revoke('alice', 'consent withdrawn');
    await until('the CancelRequest', () => up.cancels === 1, 1000);
    const started = Date.now();
    await listener.close(100);
    expect(Date.now() - started).toBeLessThan(100 + 800);
    expect(up.cancels).toBe(1);
    expect((await recordOf(sql, 100)).result?.error).toMatch(/^the agent left \(client disconnected\), then the Guarita sidecar ended the session \(consent withdrawn\); the server's outcome was not read: no answer within 100 ms of a CancelRequest$/);
  }, 10_000);
});

describe('other ends while the answers of a statement the agent left are read', () => {
  it('an answer the sidecar cannot handle (a pinned setting reported changed, 42501) stops the reading: no CancelRequest, recorded as unknown with why', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-12b-pinned' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 150));
    up.say(parameterStatus('standard_conforming_strings', 'off'));
    const o = await recordOf(sql, 2000);
    expect(up.cancels).toBe(0);
    expect(o.result).not.toHaveProperty('rows');
    expect(o.result).toMatchObject({ outcomeUnknown: true });
    expect(o.result?.error).toMatch(/^the agent left \(client disconnected\); the server's outcome was not read: the server reported standard_conforming_strings = off/);
    // A revocation after the reading stopped sends nothing more.
    enforcer.revoke('alice', 'consent withdrawn');
    await new Promise((r) => setTimeout(r, 200));
    expect(up.cancels).toBe(0);
  });

  it('invalid data from the server (08P01) stops the reading the same way', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-12b-unexpected' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 150));
    // A message type no PostgreSQL server sends ('Q' is the client's Query).
    up.say(new Writer().addCString('x').flush(0x51));
    const o = await recordOf(sql, 2000);
    expect(up.cancels).toBe(0);
    expect(o.result).toMatchObject({ outcomeUnknown: true });
    expect(o.result?.error).toMatch(/^the agent left \(client disconnected\); the server's outcome was not read: invalid data from the upstream server/);
  });

  it('the server ends the session itself (FATAL 57P01, pg_terminate_backend): no CancelRequest, recorded as unknown with the server\'s words', async () => {
    const { up, c } = await setup();
    const sql = `UPDATE orders SET status = 'hold-12b-fatal' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 150));
    up.fatal('57P01', 'terminating connection due to administrator command');
    const o = await recordOf(sql, 2000);
    expect(up.cancels).toBe(0);
    // A FATAL mid-statement says the session ended, not whether what the statement did stands (unchanged by round 12b).
    expect(result(o)).toEqual({ rows: undefined, outcomeUnknown: true, error: 'the agent left (client disconnected); the server closed the connection before answering, so its outcome was not read; before that: terminating connection due to administrator command' });
  });
});

// Round 12b review (hardening): a session whose agent left still holds a server backend while its
// statements' answers are read (up to ~32 s): it counts against GUARITA_PG_MAX_CONNECTIONS until then.
describe('GUARITA_PG_MAX_CONNECTIONS counts sessions still read after their agent left', () => {
  it('the slot is held while the statement runs on, and freed once its answer is read', async () => {
    const { up, c, listener } = await setup({}, 1);
    const sql = `UPDATE orders SET status = 'hold-12b-slot' WHERE id = 3`;
    c.send(serialize.query(sql));
    await until('the UPDATE upstream', () => up.held !== undefined);
    c.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 150));
    const late = new RawClient(listener.address.port);
    cleanups.push(() => { late.close(); return Promise.resolve(); });
    late.send(serialize.startup({ user: 'agent', database: 'orders', options: PURPOSE }));
    await late.until(() => late.closed);
    expect(late.trace()).toEqual(['E:53300']);
    up.release();
    expect(result(await recordOf(sql))).toEqual({ rows: 1, error: undefined, outcomeUnknown: undefined });
    await new Promise((r) => setTimeout(r, 100));
    const next = new RawClient(listener.address.port);
    cleanups.push(() => { next.close(); return Promise.resolve(); });
    await next.login({ token: TOKEN, options: PURPOSE });
    expect(next.closed).toBe(false);
  });
});
