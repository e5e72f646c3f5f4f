// Round 12b review (hardening): the PostgreSQL listener had no connection bound, so an agent could
// open sessions until the target server's max_connections (shared with the application) was spent.
// GUARITA_PG_MAX_CONNECTIONS bounds the sessions a listener holds; a newcomer beyond it is refused
// at its StartupMessage with 53300 naming the setting. The listener against the fake upstream and
// the local enforcer; a session the agent left while its statement runs is in
// abandoned-statements.test.ts, the real sidecar in pg-connection-limit.int.test.ts.
import { describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import pino from 'pino';
import { FAKE_KEY, FAKE_PID, startFakeUpstream, type FakeUpstream } from '../../test/pg-fake-upstream.ts';
import { ALICE_TOKEN, listenerTestHooks, PURPOSE_OPTIONS } from '../../test/pg-listener-hooks.ts';
import { RawClient } from '../../test/pg-raw-client.ts';
import { ConnectionSlots, DEFAULT_MAX_CONNECTIONS, tooManyConnections } from './connection-slots.ts';
import { startPostgresListener, type PostgresListener } from './index.ts';

const logger = pino({ level: 'silent' });

const pgEnv = listenerTestHooks();
const { cleanups } = pgEnv;

async function setup(maxConnections?: number): Promise<{ fake: FakeUpstream; listener: PostgresListener; refused: string[] }> {
  const fake = await startFakeUpstream({ auth: 'trust', user: 'orders_app', password: 'x' });
  cleanups.push(() => fake.close());
  const refused: string[] = [];
  const listener = await startPostgresListener({
    host: '127.0.0.1', port: 0, enforcer: pgEnv.enforcer, logger, metrics: { connectionRefused: (code) => refused.push(code) },
    target: { name: 'orders-db', host: '127.0.0.1', port: fake.port, database: 'orders', username: 'orders_app', password: 'x' },
    ...(maxConnections === undefined ? {} : { maxConnections }),
  });
  cleanups.push(() => listener.close());
  return { fake, listener, refused };
}

function raw(listener: PostgresListener): RawClient {
  const c = new RawClient(listener.address.port);
  cleanups.push(() => { c.close(); return Promise.resolve(); });
  return c;
}

async function session(listener: PostgresListener): Promise<RawClient> {
  const c = raw(listener);
  await c.login({ token: ALICE_TOKEN, options: PURPOSE_OPTIONS });
  expect(c.closed).toBe(false);
  return c;
}

/** A newcomer's StartupMessage and what it gets back: refused, or asked for its password. */
async function newcomer(listener: PostgresListener): Promise<{ c: RawClient; refusal: { code: string; message: string; severity: string } | undefined }> {
  const c = raw(listener);
  c.send(serialize.startup({ user: 'agent', database: 'orders', options: PURPOSE_OPTIONS }));
  await c.until(() => c.closed || c.messages.some((m) => m.name === 'authenticationCleartextPassword'), 3000);
  const e = c.messages.find((m) => m.name === 'error') as unknown as { code: string; message: string; severity: string } | undefined;
  return { c, refusal: e };
}

describe('ConnectionSlots', () => {
  it('takes up to the bound, refuses beyond it, and a release makes room for one', () => {
    const s = new ConnectionSlots(2);
    expect([s.take(), s.take(), s.take()]).toEqual([true, true, false]);
    expect(s.held).toBe(2);
    s.release();
    expect([s.take(), s.take()]).toEqual([true, false]);
  });

  it('a release with nothing held never makes the count negative (no extra slot later)', () => {
    const s = new ConnectionSlots(1);
    s.release();
    s.release();
    expect([s.take(), s.take()]).toEqual([true, false]);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses the bound %p, naming the setting', (max) => {
    expect(() => new ConnectionSlots(max)).toThrow(/GUARITA_PG_MAX_CONNECTIONS/);
  });

  it('defaults to 64', () => {
    expect(DEFAULT_MAX_CONNECTIONS).toBe(64);
  });
});

describe('the listener at GUARITA_PG_MAX_CONNECTIONS', () => {
  it('a newcomer beyond the bound is refused at its StartupMessage (FATAL 53300 naming the setting), before any password or token', async () => {
    const { fake, listener, refused } = await setup(2);
    await session(listener);
    await session(listener);
    const { c, refusal } = await newcomer(listener);
    expect(refusal).toMatchObject({ severity: 'FATAL', code: '53300', message: tooManyConnections('orders-db', 2) });
    expect(refusal?.message).toMatch(/GUARITA_PG_MAX_CONNECTIONS/);
    expect(c.messages.some((m) => m.name === 'authenticationCleartextPassword')).toBe(false);
    await c.until(() => c.closed);
    expect(refused).toEqual(['53300']);
    // No upstream connection for it.
    expect(fake.startups).toHaveLength(2);
  });

  it('node-postgres gets the code and the words', async () => {
    const { listener } = await setup(1);
    await session(listener);
    const client = new pg.Client({ host: '127.0.0.1', port: listener.address.port, user: 'agent', password: ALICE_TOKEN, database: 'orders', options: PURPOSE_OPTIONS });
    client.on('error', () => undefined);
    await expect(client.connect()).rejects.toMatchObject({ code: '53300', message: expect.stringMatching(/^sorry, too many clients already: .*GUARITA_PG_MAX_CONNECTIONS/) });
  });

  it('a session that ends frees its slot (Terminate, a reset, a refusal of its own)', async () => {
    const { listener } = await setup(1);
    const a = await session(listener);
    a.send(serialize.end());
    await a.until(() => a.closed);
    const b = await session(listener);
    b.socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 100));
    // A wrong token: refused (28P01), its slot given back.
    const bad = (await newcomer(listener)).c;
    bad.send(serialize.password('not-a-token'));
    await bad.until(() => bad.closed);
    expect(bad.messages.find((m) => m.name === 'error')).toMatchObject({ code: '28P01' });
    await new Promise((r) => setTimeout(r, 50));
    await session(listener);
  });

  it('a refused newcomer takes no slot: once one session leaves, the next gets in', async () => {
    const { listener } = await setup(1);
    const a = await session(listener);
    for (let i = 0; i < 5; i++) expect((await newcomer(listener)).refusal?.code).toBe('53300');
    a.close();
    await new Promise((r) => setTimeout(r, 100));
    await session(listener);
  });

  it('a client that has sent its StartupMessage holds a slot while it authenticates (as PostgreSQL counts a backend in authentication)', async () => {
    const { listener } = await setup(1);
    const waiting = raw(listener);
    waiting.send(serialize.startup({ user: 'agent', database: 'orders', options: PURPOSE_OPTIONS }));
    await waiting.until(() => waiting.messages.some((m) => m.name === 'authenticationCleartextPassword'));
    expect((await newcomer(listener)).refusal?.code).toBe('53300');
    waiting.close();
    await new Promise((r) => setTimeout(r, 100));
    await session(listener);
  });

  it('a CancelRequest is served when the listener is full (it opens no session)', async () => {
    const { fake, listener } = await setup(1);
    const a = await session(listener);
    const key = a.key;
    expect(key).toBeDefined();
    const cancel = connect(listener.address.port, '127.0.0.1');
    cancel.on('error', () => undefined);
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(key?.pid ?? 0, 8);
    packet.writeInt32BE(key?.secret ?? 0, 12);
    cancel.end(packet);
    const deadline = Date.now() + 3000;
    while (fake.cancels.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fake.cancels).toEqual([{ pid: FAKE_PID, key: FAKE_KEY }]);
  });

  it('an SSLRequest or GSSENCRequest is answered first, then the StartupMessage refused (where the client reads the server\'s words)', async () => {
    const { listener } = await setup(1);
    await session(listener);
    for (const code of [80877103, 80877104]) {
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(code, 4);
      const socket = connect(listener.address.port, '127.0.0.1');
      socket.on('error', () => undefined);
      const got: Buffer[] = [];
      socket.on('data', (d: Buffer) => got.push(d));
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      socket.write(request);
      while (got.length === 0) await new Promise((r) => setTimeout(r, 10));
      socket.write(serialize.startup({ user: 'agent', database: 'orders', options: PURPOSE_OPTIONS }));
      await closed;
      const answer = Buffer.concat(got);
      // 'N' (no TLS offered here, no GSS), then the ErrorResponse.
      expect(answer.toString('latin1', 0, 2)).toBe('NE');
      expect(answer.toString('utf8')).toContain('C53300');
    }
  });

  it('sockets that never send a startup packet are bounded too: beyond twice the bound, refused on accept with 53300', async () => {
    const { listener, refused } = await setup(2);
    const idle = [raw(listener), raw(listener), raw(listener), raw(listener)];
    await Promise.all(idle.map((c) => new Promise<void>((r) => { if (c.socket.readyState === 'open') r(); else c.socket.once('connect', () => r()); })));
    await new Promise((r) => setTimeout(r, 100));
    const fifth = raw(listener);
    await fifth.until(() => fifth.closed);
    expect(fifth.messages.find((m) => m.name === 'error')).toMatchObject({ code: '53300', message: expect.stringMatching(/GUARITA_PG_MAX_CONNECTIONS/) });
    expect(refused).toEqual(['53300']);
    idle[0]?.close();
    await new Promise((r) => setTimeout(r, 100));
    await session(listener);
  });

  it('without the option the bound is 64', async () => {
    const { listener } = await setup();
    const many = await Promise.all(Array.from({ length: 64 }, () => session(listener)));
    expect(many).toHaveLength(64);
    expect((await newcomer(listener)).refusal).toMatchObject({ code: '53300', message: tooManyConnections('orders-db', 64) });
  }, 30_000);
});
